"""ml imports neither Django nor (at import time) TensorFlow."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_importing_ml_modules_pulls_in_neither_django_nor_tensorflow():
    code = (
        "import sys\n"
        "import ml.architectures, ml.config, ml.datasets, ml.demo, ml.evaluate, ml.fitting, ml.metrics, ml.onnx_export\n"
        "import ml.predictor, ml.reports, ml.runtime_choice, ml.runtimes, ml.sagemaker, ml.synth, ml.train\n"
        "import ml.demo_data, ml.demo_report, ml.synth_items, ml.synth_couriers\n"
        "print(sorted(m for m in ('django', 'tensorflow', 'keras') if m in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
