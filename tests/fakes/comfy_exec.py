"""How the fake ComfyUI runs a prompt: the message order, routing and caching of the recorded server.

Per prompt (recorded order): status, execution_start, execution_cached, then per executed node progress_state +
executing (+ progress and a binary preview per sampler step), executed for output nodes, execution_success;
history is written, then status, then `executing {node: null}`. Cached nodes (the same inputs as in the last
prompt) send nothing but `executed` for output nodes (with the old file names). A model loader that runs reads
its file (`loads`), taking `model_load_seconds`. Errors and interrupts replace execution_success.

What output nodes report, as recorded (fixtures/outputs_recorded.json): SaveImage and PreviewImage
`{"images": [...]}`; SaveVideo and SaveAnimatedWEBP `{"images": [...], "animated": [true]}` (an .mp4 in the
prefix's subfolder, a .webp); SaveAudio and SaveAudioMP3 `{"audio": [...]}` (.flac, .mp3); PreviewAny
`{"text": ["..."]}`.
"""

from __future__ import annotations

import asyncio
import io
import json
import random
import string
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from PIL import Image

from . import media

if TYPE_CHECKING:
    from .comfy_server import FakeComfy

Json = dict[str, Any]
SAMPLERS = {"KSampler", "KSamplerAdvanced", "SamplerCustom"}
# the loaders that read a model from disk when they run (ComfyUI's nodes.py and comfy_extras), and the input
# that names the file
MODEL_LOADERS = {
    "CheckpointLoaderSimple": "ckpt_name",
    "CheckpointLoader": "ckpt_name",
    "ImageOnlyCheckpointLoader": "ckpt_name",
    "unCLIPCheckpointLoader": "ckpt_name",
    "UNETLoader": "unet_name",
    "LoraLoader": "lora_name",
    "LoraLoaderModelOnly": "lora_name",
}
MEDIA_SAVES = {  # node -> (file suffix, the key of its output)
    "SaveVideo": (".mp4", "images"),
    "SaveAnimatedWEBP": (".webp", "images"),
    "SaveAudio": (".flac", "audio"),
    "SaveAudioMP3": (".mp3", "audio"),
}


@dataclass
class QueueItem:
    number: int
    prompt_id: str
    prompt: Json
    extra_data: Json
    outputs: list[str]
    sensitive: Json = field(default_factory=dict)  # the Comfy.org key and token: never in /queue nor /history

    def wire(self) -> list[Any]:
        return [self.number, self.prompt_id, self.prompt, self.extra_data, self.outputs]

    @property
    def client_id(self) -> str | None:
        value = self.extra_data.get("client_id")
        return value if isinstance(value, str) else None

    def __lt__(self, other: QueueItem) -> bool:
        return self.number < other.number


class Interrupted(Exception):
    pass


@dataclass
class NodeFailure(Exception):
    exception_type: str
    message: str


@dataclass
class RunState:
    item: QueueItem
    messages: list[list[Any]] = field(default_factory=list)
    executed: list[str] = field(default_factory=list)
    outputs: Json = field(default_factory=dict)
    progress: Json = field(default_factory=dict)


def _ms() -> int:
    return int(time.time() * 1000)


def png(seed: int, size: int = 64, *, noise: bool = False) -> bytes:
    """A solid-colour PNG, or (noise) one that does not compress: about 3 bytes a pixel."""
    rng = random.Random(seed)
    if noise:
        image = Image.frombytes("RGB", (size, size), rng.randbytes(size * size * 3))
    else:
        image = Image.new("RGB", (size, size), (rng.randrange(256), rng.randrange(256), rng.randrange(256)))
    buffer = io.BytesIO()
    image.save(buffer, "PNG", compress_level=1)
    return buffer.getvalue()


def animated_webp(side: int, frames: int = 4) -> bytes:
    images = [Image.new("RGB", (side, side), (n * 60, 0, 0)) for n in range(frames)]
    buffer = io.BytesIO()
    images[0].save(buffer, "WEBP", save_all=True, append_images=images[1:], duration=160, loop=0)
    return buffer.getvalue()


class Executor:
    def __init__(self, fake: FakeComfy) -> None:
        self.fake = fake
        self.cache: dict[str, tuple[str, Json | None]] = {}  # node id -> (signature, ui output) of last prompt
        self.counters: dict[str, int] = {}
        self.current_node: str | None = None
        self.loads: list[str] = []  # every model file a loader read, in order (cached loaders read none)
        self.loaded_by: dict[str, int] = {}  # prompt id -> how many model files it read

    # ---- graph helpers ---------------------------------------------------------------------------------

    def _order(self, prompt: Json, outputs: list[str]) -> list[str]:
        order: list[str] = []

        def visit(node_id: str) -> None:
            if node_id in order:
                return
            for value in (prompt[node_id].get("inputs") or {}).values():
                if isinstance(value, list) and len(value) == 2 and value[0] in prompt:
                    visit(value[0])
            order.append(node_id)

        for output in outputs:
            visit(output)
        return order

    def _signature(self, prompt: Json, node_id: str, memo: dict[str, str]) -> str:
        if node_id not in memo:
            node = prompt[node_id]
            inputs = {
                name: (
                    self._signature(prompt, value[0], memo)
                    if isinstance(value, list) and len(value) == 2 and value[0] in prompt
                    else value
                )
                for name, value in (node.get("inputs") or {}).items()
            }
            memo[node_id] = json.dumps([node["class_type"], inputs], sort_keys=True, default=str)
        return memo[node_id]

    def _batch_size(self, prompt: Json, node_id: str, seen: set[str] | None = None) -> int | None:
        """The batch size of the latent or image a node works on: the nearest upstream `batch_size`."""
        seen = set() if seen is None else seen
        if node_id in seen:
            return None
        seen.add(node_id)
        inputs = prompt[node_id].get("inputs") or {}
        if isinstance(inputs.get("batch_size"), int):
            return int(inputs["batch_size"])
        for value in inputs.values():
            if isinstance(value, list) and len(value) == 2 and value[0] in prompt:
                found = self._batch_size(prompt, value[0], seen)
                if found is not None:
                    return found
        return None

    # ---- messages --------------------------------------------------------------------------------------

    async def _state(self, run: RunState, node_id: str, state: str, value: float = 0.0, maximum: float = 1.0) -> None:
        pid = run.item.prompt_id
        run.progress[node_id] = {
            "value": value,
            "max": maximum,
            "state": state,
            "node_id": node_id,
            "prompt_id": pid,
            "display_node_id": node_id,
            "parent_node_id": None,
            "real_node_id": node_id,
        }
        await self.fake.send_progress("progress_state", {"prompt_id": pid, "nodes": dict(run.progress)}, run.item)

    async def _message(self, run: RunState, kind: str, data: Json, *, history: bool = True) -> None:
        if history:
            run.messages.append([kind, data])
        await self.fake.send_to_client(kind, data, run.item.client_id)

    # ---- running ---------------------------------------------------------------------------------------

    async def run(self, item: QueueItem) -> None:
        fake, pid = self.fake, item.prompt_id
        run = RunState(item)
        await fake.broadcast_status()
        await self._message(run, "execution_start", {"prompt_id": pid, "timestamp": _ms()})
        memo: dict[str, str] = {}
        order = self._order(item.prompt, item.outputs)
        signatures = {node: self._signature(item.prompt, node, memo) for node in order}
        cached = [node for node in order if self.cache.get(node, ("",))[0] == signatures[node]]
        await self._message(run, "execution_cached", {"nodes": cached, "prompt_id": pid, "timestamp": _ms()})
        new_cache: dict[str, tuple[str, Json | None]] = {}
        try:
            for node_id in order:
                if node_id in cached:
                    ui = self.cache[node_id][1]
                    if ui is not None:
                        await self._executed(run, node_id, ui)
                    new_cache[node_id] = self.cache[node_id]
                    continue
                ui = await self._execute_node(run, node_id)
                new_cache[node_id] = (signatures[node_id], ui)
        except NodeFailure as failure:
            await self._fail(run, failure)
        except Interrupted:
            await self._interrupted(run)
        else:
            await self._message(run, "execution_success", {"prompt_id": pid, "timestamp": _ms()})
            fake.write_history(item, run, "success", completed=True)
        self.cache = new_cache
        self.current_node = None
        fake.running = None
        await fake.broadcast_status()
        await fake.send_to_client("executing", {"node": None, "prompt_id": pid}, item.client_id)
        fake.finished_at[pid] = time.monotonic()
        fake.notify()

    async def _execute_node(self, run: RunState, node_id: str) -> Json | None:
        fake, item = self.fake, run.item
        node = item.prompt[node_id]
        class_type = node["class_type"]
        inputs = node.get("inputs") or {}
        fake.check_interrupt()
        self.current_node = node_id
        await self._state(run, node_id, "running")
        data = {"node": node_id, "display_node": node_id, "prompt_id": item.prompt_id}
        await fake.send_to_client("executing", data, item.client_id)
        failure = fake.failures.get(node_id) or fake.failures.get(class_type)
        if failure is not None:
            raise NodeFailure(*failure)
        if (fake.object_info.get(class_type) or {}).get("api_node") and not (
            item.sensitive.get("api_key_comfy_org") or item.sensitive.get("auth_token_comfy_org")
        ):  # a partner node with neither a Comfy.org key nor a signed-in token (comfy_api_nodes' client refuses)
            raise NodeFailure("Exception", "Unauthorized: Please login first to use this node.")
        if class_type in SAMPLERS:
            steps = inputs["steps"] if isinstance(inputs.get("steps"), int) else 20
            for step in range(1, steps + 1):
                await fake.before_step()
                await self._state(run, node_id, "running", step, steps)
                await fake.send_step(item, node_id, step, steps)
                fake.steps_done += 1
                fake.notify()
        elif class_type in MODEL_LOADERS:
            self.loads.append(str(inputs.get(MODEL_LOADERS[class_type])))
            self.loaded_by[item.prompt_id] = self.loaded_by.get(item.prompt_id, 0) + 1
            if fake.model_load_seconds:
                await asyncio.sleep(fake.model_load_seconds)  # the fake's pace, not a synchronisation
            fake.check_interrupt()
        elif class_type == "GetImageSize":
            await fake.send_text_frame(node_id, "width: 64, height: 64\n batch size: 1")
        ui = self._save(run, node_id, class_type, inputs)
        await self._state(run, node_id, "finished", 1.0, 1.0)
        run.executed.append(node_id)
        if ui is not None:
            await self._executed(run, node_id, ui)
        return ui

    def _save(self, run: RunState, node_id: str, class_type: str, inputs: Json) -> Json | None:
        if class_type == "VHS_VideoCombine":
            return self._video_combine(inputs)
        if class_type in MEDIA_SAVES:
            return self._save_media(class_type, inputs)
        if class_type == "PreviewAny":
            return {"text": [self._text_of(run.item.prompt, inputs.get("source"))]}
        if class_type not in ("SaveImage", "PreviewImage"):
            return None
        count = self._batch_size(run.item.prompt, node_id) or 1
        if class_type == "SaveImage":  # "discord/txt2img" saves txt2img_00001_.png in the subfolder discord
            subfolder, _, prefix = str(inputs.get("filename_prefix", "ComfyUI")).rpartition("/")
            kind = "output"
        else:
            subfolder, prefix, kind = "", "ComfyUI_temp_" + "".join(random.choices(string.ascii_lowercase, k=5)), "temp"
        images = []
        for _ in range(count):
            counter_key = f"{subfolder}/{prefix}"
            self.counters[counter_key] = self.counters.get(counter_key, 0) + 1
            name = f"{prefix}_{self.counters[counter_key]:05}_.png"
            if self.fake.output_names:  # a hostile server names its files as it likes
                name = self.fake.output_names.pop(0)
                self.fake.served_hostile.add(name)
            seed = hash((run.item.prompt_id, name)) & 0xFFFF
            data = self.fake.output_data.get(name) or png(seed, self.fake.output_side, noise=self.fake.output_noise)
            self.fake.files[(kind, subfolder, name)] = data
            images.append({"filename": name, "subfolder": subfolder, "type": kind})
        return {"images": images}

    def _save_media(self, class_type: str, inputs: Json) -> Json:
        suffix, key = MEDIA_SAVES[class_type]
        subfolder, _, prefix = str(inputs.get("filename_prefix", "ComfyUI")).rpartition("/")
        counter_key = f"{subfolder}/{prefix}"
        self.counters[counter_key] = self.counters.get(counter_key, 0) + 1
        name = f"{prefix}_{self.counters[counter_key]:05}_{suffix}"
        fake = self.fake
        if name in fake.output_data:
            data = fake.output_data[name]
        elif suffix == ".mp4":
            data = media.mp4(seconds=fake.media_seconds, side=fake.output_side, noise=fake.output_noise)
        elif suffix == ".webp":
            data = animated_webp(fake.output_side)
        else:
            data = media.sound(suffix.lstrip("."), seconds=fake.media_seconds, noise=fake.output_noise)
        fake.files[("output", subfolder, name)] = data
        file = {"filename": name, "subfolder": subfolder, "type": "output"}
        return {key: [file], "animated": [True]} if key == "images" else {key: [file]}

    def _video_combine(self, inputs: Json) -> Json:
        """VideoHelperSuite's "Video Combine", a custom output node (flagged `output_node`): an MP4 named
        `prefix_00001.mp4` (no trailing underscore), reported under `gifs` with its format, frame rate, the
        first frame's PNG (`workflow`) and the server's own path, as its `combine_video` returns them."""
        subfolder, _, prefix = str(inputs.get("filename_prefix", "AnimateDiff")).rpartition("/")
        counter_key = f"vhs:{subfolder}/{prefix}"
        self.counters[counter_key] = self.counters.get(counter_key, 0) + 1
        stem = f"{prefix}_{self.counters[counter_key]:05}"
        fake = self.fake
        fake.files[("output", subfolder, f"{stem}.mp4")] = media.mp4(
            seconds=fake.media_seconds, side=fake.output_side, noise=fake.output_noise
        )
        fake.files[("output", subfolder, f"{stem}.png")] = png(1, fake.output_side)
        return {
            "gifs": [
                {
                    "filename": f"{stem}.mp4",
                    "subfolder": subfolder,
                    "type": "output",
                    "format": "video/h264-mp4",
                    "frame_rate": float(inputs.get("frame_rate", 8)),
                    "workflow": f"{stem}.png",
                    "fullpath": f"/comfyui/output/{subfolder + '/' if subfolder else ''}{stem}.mp4",
                }
            ]
        }

    @staticmethod
    def _text_of(prompt: Json, source: Any) -> str:
        """What PreviewAny shows: a string primitive's value (the only source the fake computes)."""
        if isinstance(source, list) and len(source) == 2 and source[0] in prompt:
            value = (prompt[source[0]].get("inputs") or {}).get("value")
            return value if isinstance(value, str) else json.dumps(value)
        return "None"

    async def _executed(self, run: RunState, node_id: str, ui: Json) -> None:
        run.outputs[node_id] = ui
        data = {"node": node_id, "display_node": node_id, "output": ui, "prompt_id": run.item.prompt_id}
        await self._message(run, "executed", data, history=False)

    async def _fail(self, run: RunState, failure: NodeFailure) -> None:
        item = run.item
        node_id = self.current_node or ""
        node = item.prompt.get(node_id, {})
        data = {
            "prompt_id": item.prompt_id,
            "node_id": node_id,
            "node_type": node.get("class_type", ""),
            "executed": list(run.executed),
            "exception_message": failure.message,
            "exception_type": failure.exception_type,
            "traceback": ['  File "<comfyui>/execution.py", line 496, in execute\n'],
            "current_inputs": {k: [v] for k, v in (node.get("inputs") or {}).items()},
            "current_outputs": list(run.executed),
            "timestamp": _ms(),
        }
        await self._message(run, "execution_error", data)
        self.fake.write_history(item, run, "error", completed=False)

    async def _interrupted(self, run: RunState) -> None:
        item = run.item
        node_id = self.current_node or ""
        data = {
            "prompt_id": item.prompt_id,
            "node_id": node_id,
            "node_type": item.prompt.get(node_id, {}).get("class_type", ""),
            "executed": list(run.executed),
            "timestamp": _ms(),
        }
        await self._message(run, "execution_interrupted", data)
        run.outputs = {}
        self.fake.write_history(item, run, "error", completed=False)
