# One image for every drip-bridge process: the receiver, each consumer group, migrations.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1

WORKDIR /app
COPY pyproject.toml README.md alembic.ini ./
COPY core ./core
COPY bridge ./bridge
COPY consumers ./consumers
COPY dripbridge ./dripbridge
COPY devstack ./devstack
COPY migrations ./migrations
# Editable install: migrations and alembic.ini are found next to the package, as in a checkout.
RUN pip install -e . && useradd --system --uid 10001 drip
USER drip

EXPOSE 8000
CMD ["drip-bridge", "serve"]
