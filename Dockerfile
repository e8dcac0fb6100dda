# One image for every project process (replay, processors, dashboards); compose.yaml picks the command.
FROM python:3.11-slim
WORKDIR /app
ENV PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt
COPY pyproject.toml README.md LICENSE ./
COPY common/ common/
COPY producers/ producers/
COPY processors/ processors/
COPY warehouse/ warehouse/
COPY pipeline/ pipeline/
COPY dashboards/ dashboards/
COPY bench/ bench/
RUN pip install --no-cache-dir --no-deps -e . && mkdir -p /data /state
EXPOSE 8501 8502
CMD ["redset-processors", "--help"]
