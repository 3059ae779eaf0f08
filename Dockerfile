# The image every govpulse service of docker-compose.yml runs (worker, web, api, topics job).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /src
COPY . /src
RUN pip install . \
    && useradd --system --uid 10001 --home-dir /var/lib/govpulse --create-home govpulse

# Workers keep their (small) state directory here; everything else lives in Kafka/Redis.
ENV GOVPULSE_DATA_DIR=/var/lib/govpulse
WORKDIR /var/lib/govpulse
USER govpulse

EXPOSE 8080 8090
CMD ["govpulse", "--help"]
