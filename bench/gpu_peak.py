"""The GPU check's device: the GPUs `nvidia-smi` lists, and each chip's peak.

`bench/gpu_check.py` divides its training FLOP/s by the dense tensor-core
peak of the GPU named by `nvidia-smi` (`PEAK_TFLOPS`, each with its source)
to give the fraction of peak used.
"""

import re
import subprocess
from typing import Any, Dict, List, Optional

# Dense (without structured sparsity) peak TFLOP/s at boost clock, by
# precision, from NVIDIA's data sheets. The data sheets print the tensor-core
# figures "with sparsity"; the dense figure is half of that. Keys are tried
# in order against the `nvidia-smi --query-gpu=name` output, so the more
# specific names come first. float32 training runs convolutions and matmuls
# in TF32 on Ampere and later (TensorFlow's default), FP32 before.
PEAK_TFLOPS = (
    (r"H200 NVL", {"float16": 835.5, "float32": 417.5},
     "NVIDIA H200 NVL data sheet: FP16 Tensor Core 1,671 TFLOPS and TF32 "
     "835 TFLOPS with sparsity"),
    (r"H200", {"float16": 989.5, "float32": 494.5},
     "NVIDIA H200 (SXM) data sheet: FP16 Tensor Core 1,979 TFLOPS and TF32 "
     "989 TFLOPS with sparsity"),
    (r"H100 NVL", {"float16": 835.5, "float32": 417.5},
     "NVIDIA H100 NVL data sheet: FP16 Tensor Core 1,671 TFLOPS and TF32 "
     "835 TFLOPS with sparsity"),
    (r"H100 PCIe", {"float16": 756.5, "float32": 378.0},
     "NVIDIA H100 PCIe data sheet: FP16 Tensor Core 1,513 TFLOPS and TF32 "
     "756 TFLOPS with sparsity"),
    (r"H100", {"float16": 989.5, "float32": 494.5},
     "NVIDIA H100 SXM data sheet: FP16 Tensor Core 1,979 TFLOPS and TF32 "
     "989 TFLOPS with sparsity"),
    (r"A100", {"float16": 312.0, "float32": 156.0},
     "NVIDIA A100 data sheet: FP16 Tensor Core 312 TFLOPS, TF32 156 TFLOPS "
     "(624 and 312 with sparsity); SXM and PCIe alike"),
    (r"\bL4\b", {"float16": 121.0, "float32": 60.0},
     "NVIDIA L4 data sheet: FP16 Tensor Core 242 TFLOPS and TF32 120 TFLOPS "
     "with sparsity"),
    (r"V100", {"float16": 125.0, "float32": 15.7},
     "NVIDIA V100 (SXM2) data sheet: 125 TFLOPS Tensor, FP32 15.7 TFLOPS "
     "(PCIe: 112 and 14)"),
    (r"\bT4\b", {"float16": 65.0, "float32": 8.1},
     "NVIDIA T4 data sheet: mixed precision (FP16/FP32) 65 TFLOPS, FP32 8.1 "
     "TFLOPS"),
)



def nvidia_smi_gpus() -> List[Dict[str, str]]:
  """Name, memory and driver of each GPU `nvidia-smi` lists ([] if none)."""
  try:
    output = subprocess.run(
        ["nvidia-smi", "--query-gpu=name,memory.total,driver_version",
         "--format=csv,noheader"], capture_output=True, text=True,
        timeout=30, check=True).stdout
  except (OSError, subprocess.SubprocessError):
    return []
  gpus = []
  for line in output.strip().splitlines():
    name, memory, driver = [part.strip() for part in line.split(",")]
    gpus.append({"name": name, "memory": memory, "driver": driver})
  return gpus


def peak_tflops(gpu_name: Optional[str], policy: str) -> Dict[str, Any]:
  """The chip's dense peak for `policy`'s compute type, and where it is from.

  Returns:
    {"tflops": float or None, "precision": "float16" / "float32",
     "source": text}; tflops is None for a device not in `PEAK_TFLOPS`.
  """
  precision = "float16" if policy.startswith("mixed_") else "float32"
  if gpu_name:
    for pattern, peaks, source in PEAK_TFLOPS:
      if re.search(pattern, gpu_name):
        return {"tflops": peaks[precision], "precision": precision,
                "source": source}
  return {"tflops": None, "precision": precision,
          "source": f"no peak figure for {gpu_name or 'this device (no GPU)'}"
                    " in bench/gpu_peak.py's PEAK_TFLOPS"}
