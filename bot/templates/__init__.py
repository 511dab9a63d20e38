"""Workflow templates: ComfyUI API-format exports in `workflows/`, with optional manifests, bound by value."""
