"""Viewfinder's engine: indexing, search, tags and models, with no Qt."""

import sys

# OpenVINO's model converter reports its use to Google Analytics unless the user has opted out, from
# a process it forks per event. Viewfinder sends nothing anywhere; and a fork from a process with
# other threads can hang (it held the test suite at exit). Without the telemetry package, OpenVINO
# falls back to its own no-op stand-in, so the package is kept from loading.
sys.modules.setdefault("openvino_telemetry", None)  # type: ignore[arg-type]
