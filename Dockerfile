# The project's container image. Every Kubeflow / Vertex AI Pipelines task
# runs it (the compiled spec sets the command), and so do the Beam workers of
# the `dataflow` profile and of `flink`/`spark` with the DOCKER environment
# (through Beam's boot ENTRYPOINT), so all of them have the module code
# (modules.*, pipeline.*) and the same pinned TFX stack. The Trainer can run
# a GPU or TPU build of it (ACCELERATOR below). No Docker here? `make
# image-check` runs the install step without it (tools/check_image.py).
#
#   docker build -t REGISTRY/flowers:TAG .
#   docker build --build-arg ACCELERATOR=gpu -t REGISTRY/flowers-gpu:TAG .
#
# BEAM_VERSION must match apache-beam in requirements.txt (a test checks).
ARG BEAM_VERSION=2.59.0
FROM apache/beam_python3.11_sdk:${BEAM_VERSION} AS beam_sdk

FROM python:3.11-slim

# ACCELERATOR picks the TensorFlow build, for the Trainer's image
# (kubeflow_runner.py --trainer-image):
#   cpu  the default, for every other task and the Beam workers;
#   gpu  + requirements-gpu.txt: CUDA and cuDNN wheels (the NVIDIA driver
#        comes from the node);
#   tpu  + requirements-tpu.txt, over the cpu install: TensorFlow's TPU
#        build of the same version and libtpu, for TPU VMs.
ARG ACCELERATOR=cpu

# Exactly the pinned stack of `make install`: TFX 1.16 declares Python < 3.11
# but runs on 3.11, hence --ignore-requires-python; constraints.txt pins
# every transitive package. Two of them (pyfarmhash for TFDV, crcmod) ship
# no wheel, so a compiler is installed for the build and removed in the same
# layer.
COPY requirements.txt requirements-gpu.txt requirements-tpu.txt \
    constraints.txt /tmp/requirements/
RUN set -eu; \
    case "$ACCELERATOR" in \
      cpu|tpu) extra="" ;; \
      gpu) extra="-r /tmp/requirements/requirements-gpu.txt" ;; \
      *) echo "error: ACCELERATOR must be cpu, gpu or tpu, not '$ACCELERATOR'" >&2; \
         exit 2 ;; \
    esac; \
    apt-get update; \
    apt-get install -y --no-install-recommends build-essential; \
    pip install --no-cache-dir --upgrade pip==24.2; \
    pip install --no-cache-dir --ignore-requires-python \
        -r /tmp/requirements/requirements.txt $extra \
        -c /tmp/requirements/constraints.txt; \
    if [ "$ACCELERATOR" = tpu ]; then \
      pip install --no-cache-dir --no-deps \
          -r /tmp/requirements/requirements-tpu.txt; \
    fi; \
    apt-get purge -y build-essential; \
    apt-get autoremove -y; \
    rm -rf /var/lib/apt/lists/* /tmp/requirements

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
