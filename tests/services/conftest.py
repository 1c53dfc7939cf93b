"""The fake providers' servers (session-wide), as the fine-tuning tests have them."""

from tests.fine_tuning.conftest import fake_servers  # noqa: F401 (a fixture)
