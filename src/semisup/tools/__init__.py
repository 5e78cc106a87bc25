"""Tools: using and timing trained models (predict, bench, the GPU check)."""
