# The project's one container image. Every Kubeflow / Vertex AI Pipelines
# task runs it (the compiled spec sets the command), and so do the Beam
# workers of the `dataflow` profile and of `flink`/`spark` with the DOCKER
# environment (through Beam's boot ENTRYPOINT), so all of them have the
# module code (modules.*, pipeline.*) and the same pinned TFX stack.
#
#   docker build -t REGISTRY/flowers:TAG .
#
# BEAM_VERSION must match apache-beam in requirements.txt (a test checks).
ARG BEAM_VERSION=2.59.0
FROM apache/beam_python3.11_sdk:${BEAM_VERSION} AS beam_sdk

FROM python:3.11-slim

# Exactly the pinned stack of `make install`: TFX 1.16 declares Python < 3.11
# but runs on 3.11, hence --ignore-requires-python; constraints.txt pins
# every transitive package. Two of them (pyfarmhash for TFDV, crcmod) ship
# no wheel, so a compiler is installed for the build and removed in the same
# layer.
COPY requirements.txt constraints.txt /tmp/requirements/
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential \
    && pip install --no-cache-dir --upgrade pip==24.2 \
    && pip install --no-cache-dir --ignore-requires-python \
        -r /tmp/requirements/requirements.txt \
        -c /tmp/requirements/constraints.txt \
    && apt-get purge -y build-essential \
    && apt-get autoremove -y \
    && rm -rf /var/lib/apt/lists/* /tmp/requirements

# Beam's worker launcher: Dataflow's sdk_container_image and the DOCKER
# environment of the portable runners start the image through it.
COPY --from=beam_sdk /opt/apache/beam /opt/apache/beam
ENTRYPOINT ["/opt/apache/beam/boot"]

# The project, where kubeflow_runner.py's IMAGE_PROJECT_DIR says it is
# (the schema at /flowers/schema/schema.pbtxt, module paths from here).
COPY . /flowers
WORKDIR /flowers
ENV PYTHONPATH=/flowers \
    TF_USE_LEGACY_KERAS=1
