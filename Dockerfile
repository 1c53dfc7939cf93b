# jobdeck: one image for `jobdeck api`, `jobdeck worker` and `jobdeck migrate`.
#   docker build -t jobdeck .      docker run --rm jobdeck --help
#   docker build --build-arg EXTRAS=training -t jobdeck-trainer .   a worker that trains
#     (PyTorch from PyPI: its Linux wheel is the CUDA build, for a GPU machine)

# --- build: a virtual environment with jobdeck and its dependencies --------------------
FROM python:3.11-slim AS build

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PATH=/opt/venv/bin:$PATH
RUN python -m venv /opt/venv

WORKDIR /src
# Dependencies first, from pyproject.toml alone, so that a code change reuses this layer.
# EXTRAS: optional dependency groups of pyproject.toml, comma-separated (e.g. training).
ARG EXTRAS=""
COPY pyproject.toml README.md ./
RUN EXTRAS="$EXTRAS" python -c "import os, tomllib; p = tomllib.load(open('pyproject.toml', 'rb'))['project']; extras = [e for e in os.environ['EXTRAS'].split(',') if e]; print('\n'.join(p['dependencies'] + [d for e in extras for d in p['optional-dependencies'][e]]))" \
        > /tmp/requirements.txt \
    && pip install -r /tmp/requirements.txt
COPY jobdeck ./jobdeck
RUN pip install --no-deps .

# --- runtime ----------------------------------------------------------------------------
FROM python:3.11-slim

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    JOBDECK_DATA_DIR=/data \
    JOBDECK_API_HOST=0.0.0.0 \
    JOBDECK_API_PORT=8000

# A non-root user; /data belongs to it, so a fresh named volume mounted there does too.
RUN groupadd --system --gid 10001 jobdeck \
    && useradd --system --uid 10001 --gid jobdeck --create-home --home-dir /home/jobdeck jobdeck \
    && mkdir /data && chown jobdeck:jobdeck /data

COPY --from=build /opt/venv /opt/venv

# Numeric, so that a runtime can check it is not root without reading /etc/passwd.
USER 10001:10001
WORKDIR /home/jobdeck
EXPOSE 8000

# No HEALTHCHECK here: the image also runs workers and one-shot migrations, which serve no
# HTTP; docker-compose.yml gives the API replicas theirs.
ENTRYPOINT ["jobdeck"]
CMD ["api"]
