# One image, drip-bridge:local, for every drip-bridge process: the receiver, each consumer group,
# migrations and one-off commands (docker-compose.yml builds it once, in its `migrate` service).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    DRIP_SPOOL_DIR=/var/lib/drip/spool

WORKDIR /app
COPY pyproject.toml README.md alembic.ini ./
COPY core ./core
COPY bridge ./bridge
COPY consumers ./consumers
COPY dripbridge ./dripbridge
COPY devstack ./devstack
COPY migrations ./migrations
# Editable install: migrations and alembic.ini are found next to the package, as in a checkout.
# The receiver's spool directory belongs to the user the processes run as; a named volume
# mounted there starts with this owner.
RUN pip install -e . \
    && useradd --system --uid 10001 drip \
    && mkdir -p /var/lib/drip/spool \
    && chown -R drip /var/lib/drip
USER drip

# 8000: the receiver (webhooks, /healthz, /readyz, /metrics); 9100: a consumer's /metrics.
EXPOSE 8000 9100
CMD ["drip-bridge", "serve"]
