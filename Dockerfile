# Production image: non-root, migrations applied by `riskops migrate` (run once per release),
# web: `riskops serve`, worker: `riskops worker`. Configure with RISKOPS_* (see docs/OPERATIONS.md).
FROM python:3.11-slim AS base
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    LITELLM_LOCAL_MODEL_COST_MAP=True RISKOPS_ENV=prod RISKOPS_VAR_DIR=/var/lib/riskops
WORKDIR /app
# Exactly the versions `make lock` pinned for the app, each file checked against its hash (no
# test or dev tools: those are in requirements/lock.txt only). A layer of its own, so that only
# a new lock downloads the dependencies again.
COPY requirements/lock-prod.txt requirements/
RUN pip install --require-hashes -r requirements/lock-prod.txt
# Then riskops itself: nothing left to resolve (--no-deps), built by the locked setuptools.
COPY . .
RUN pip install --no-deps --no-build-isolation . \
 && useradd --system --uid 10001 --home /var/lib/riskops riskops \
 && mkdir -p /var/lib/riskops && chown riskops /var/lib/riskops
USER riskops
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD python -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=4).status == 200 else 1)"
CMD ["riskops", "serve", "--host", "0.0.0.0", "--port", "8000", "--no-demo"]
