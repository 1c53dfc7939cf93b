"""`jobdeck pipelines apply FILE` and `jobdeck pipelines run NAME --input k=v --watch`."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.api.test_cli import _cli, api_url, cli_env  # noqa: F401 (fixtures)

SPEC = """
inputs:
  who: {type: string}
  times: {type: integer, default: 1}
steps:
  - id: greet
    kind: transform
    expression: "join(' ', [hello, who])"
    input: {hello: hello, who: "${inputs.who}"}
outputs:
  greeting: ${steps.greet.output}
  times: ${inputs.times}
"""

pytestmark = pytest.mark.usefixtures("cli_env")


async def test_apply_then_run_and_watch(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = tmp_path / "greeter.yaml"
    path.write_text(SPEC)
    code, out, err = await _cli(capsys, "pipelines", "apply", str(path))
    assert code == 0, err
    assert out.startswith("greeter: version 1 (")
    code, out, _ = await _cli(capsys, "pipelines", "apply", str(path))
    assert out.startswith("greeter: version 2 (")
    code, out, err = await _cli(
        capsys, "pipelines", "run", "greeter", "--input", "who=ann", "--input", "times=3", "--watch"
    )
    assert code == 0, err
    assert out.startswith("run ") and " of greeter v2" in out
    assert "completed" in out


async def test_apply_shows_each_problem_and_run_refuses_bad_inputs(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("steps:\n  - {id: a, kind: transform, expression: '@', dependsOn: [zz]}\n")
    code, _, err = await _cli(capsys, "pipelines", "apply", str(path))
    assert code == 1
    assert "steps.a.dependsOn: unknown step 'zz'" in err
    good = tmp_path / "greeter2.yaml"
    good.write_text(SPEC)
    assert (await _cli(capsys, "pipelines", "apply", str(good)))[0] == 0
    code, _, err = await _cli(capsys, "pipelines", "run", "greeter2", "--input", "times=x")
    assert code == 1
    assert "inputs.who: required input (string) missing" in err
    assert "inputs.times: expected integer, got string" in err
    code, _, err = await _cli(capsys, "pipelines", "run", "nobody")
    assert code == 1 and "no pipeline named 'nobody'" in err
