//! ONNX import (stub, being written).
