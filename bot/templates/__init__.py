"""Workflow templates: the files of `workflows/` (API format, or UI exports converted as ComfyUI's frontend
converts them), with optional manifests or inferred parameters, checked against the servers' node definitions and
bound by value."""
