"""The one door: whatever a member asks for (`/imagine`, a button, the Edit form, a reaction) becomes a job or a
refusal here, and nowhere else, so every rule holds on every path. Two stages, because of Discord's 3 seconds:

1. `open(knock)`, from memory, before the acknowledgement: the checks in `CHECKS`' one order (who may follow up
   on the result, the server's policy on the prompt, what the bot lacks in the channel, the follow-up cooldown,
   the member's caps and the queue's), reserving the member's place only when all pass. It gives a `Ticket`, or
   raises `RefusedRequest` with the first reason.
2. The ticket's `imagine`, `reroll`, `edit`, `vary` or `upscale` binds what was asked (the inline flags of
   `/imagine` and the member's defaults; a member's files and a result through the attachment checks), holds it
   to every limit whichever way it came (prompt and negative length, steps, size, batch; the server's words
   again, on what is bound; whether any configured server can run the workflow), and `accept` queues it.

The cogs only turn Discord input into an `Asker` and a `Knock`, and a job or a `RefusedRequest` into a reply.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

from bot import permissions
from bot.i18n import Joined, Text, excerpt, text_of
from bot.media.attachments import AttachmentError, safe_sound, still_image
from bot.media.pool import MediaCrashed, MediaPool, MediaTimeout
from bot.settings import LimitSettings
from bot.templates.errors import TemplateError, UnusableTemplate
from bot.templates.library import TemplateLibrary
from bot.templates.params import ImageData
from bot.templates.template import LORAS, Template

from .access import Access, Asker
from .engine import JobEngine
from .errors import RefusedRequest
from .flags import parse_aspect, parse_flags, size_for
from .followups import Draft, FollowUps
from .lora_tags import resolve, take_loras
from .model import Job, JobRequest
from .policy import Policies
from .store import JobStore, StoredReply

# /imagine's options (and inline flags) -> the template parameter each sets
log = logging.getLogger(__name__)
T = TypeVar("T")
ATTACHMENT_SECONDS = 15.0  # at most, to decode a member's file: a still image or a 600 s sound takes a few
SOUND_MAX_SECONDS = 600  # the longest sound a member may attach (decoded and re-encoded by the bot)
PARAMETER_OF = {
    "negative": "negative",
    "seed": "seed",
    "steps": "steps",
    "cfg": "cfg",
    "model": "model",
    "count": "batch_size",
    "fps": "fps",
    "length": "length",
}


class RequestError(RefusedRequest, ValueError):
    """What the member asked for cannot be run; the message says why and what to change."""


CHECKS = ("access", "policy", "permissions", "cooldown", "caps")  # the door's checks, always in this order


@dataclass(frozen=True, slots=True)
class Knock:
    """A member at the door: who asks, for what, on which result, and what the cog read from Discord."""

    asker: Asker
    action: str = "imagine"  # or a follow-up of `job`: reroll, vary, upscale, edit
    job: Job | None = None
    texts: tuple[str, ...] | None = None  # the prompt (and negative) asked for; None: the result's prompt
    bot_permissions: int | None = None  # the bot's permission bits where the result is shown; None: unknown


class Ticket:
    """An open door: the member passed every check and holds a reserved place in the queue until the `with`
    block of `Admission.open` ends, by which time the job is accepted (or refused). What the member asked for
    is bound here (`imagine`, `reroll`, `edit`, `vary`, `upscale`: a job, or a `RefusedRequest`) and ends in
    `accept`."""

    def __init__(self, admission: Admission, knock: Knock, private: bool) -> None:
        self._admission, self.asker, self.parent, self.private = admission, knock.asker, knock.job, private

    async def imagine(
        self, prompt: str, given: dict[str, Any], image: ImageData | None = None, audio: ImageData | None = None
    ) -> Job:
        admission = self._admission
        return await self._job(admission.imagine(self.asker, prompt, given, image, private=self.private, audio=audio))

    async def reroll(self, note: str | None) -> Job:
        return await self._job(self._draft(self._admission.followups.reroll, note))

    async def edit(self, prompt: str, negative: str | None, note: str | None) -> Job:
        return await self._job(self._draft(lambda job: self._admission.followups.edit(job, prompt, negative), note))

    async def vary(self, result: ImageData, note: str | None) -> Job:
        return await self._job(self._from_result(self._admission.followups.vary, result, note))

    async def upscale(self, result: ImageData, note: str | None) -> Job:
        return await self._job(self._from_result(self._admission.followups.upscale, result, note))

    async def accept(self, job: Job, message_id: int | None, token: str | None) -> None:
        """The job queued; its reply is `message_id` (the loading message), edited through `token` while valid."""
        await self._admission.engine.accept(job, StoredReply(job.request.channel_id, message_id, token))

    async def _draft(self, make: Callable[[Job], Draft], note: str | None) -> JobRequest:
        if self.parent is None:
            raise ValueError("a follow-up is opened on a result")
        return self._admission.request(self.asker, make(self.parent), note, self.private)

    async def _from_result(
        self, make: Callable[[Job, ImageData], Draft], result: ImageData, note: str | None
    ) -> JobRequest:
        """A result followed up goes through the checks a member's attachment does (size, pixels, a still image,
        re-encoded), since ComfyUI may have made it larger than a member may send."""
        still = await self._admission.still(self.asker, result, what="result_image")
        return await self._draft(lambda job: make(job, still), note)

    @staticmethod
    async def _job(making: Awaitable[JobRequest]) -> Job:
        """Whatever refuses it, as the one refusal (said in the member's language)."""
        try:
            return Job(await making)
        except RefusedRequest:
            raise
        except (TemplateError, AttachmentError) as exc:
            raise RefusedRequest.saying(text_of(exc)) from None


class Admission:
    def __init__(
        self,
        library: TemplateLibrary,
        engine: JobEngine,
        store: JobStore,
        policies: Policies,
        limits: LimitSettings,
        followups: FollowUps,
        access: Access,
        media: MediaPool,
        *,
        default_template: str = "txt2img",
    ) -> None:
        self.library, self.engine, self.store, self.policies, self.limits = library, engine, store, policies, limits
        self.followups, self.access, self.media = followups, access, media
        self.default_template = default_template
        self._last_follow_up: dict[int, float] = {}
        # the door's checks, in `CHECKS`' order; each says why not, or None
        self.checks: tuple[tuple[str, Callable[[Knock], Text | None]], ...] = (
            ("access", self._access),
            ("policy", self._policy),
            ("permissions", self._permissions),
            ("cooldown", self._cooldown),
            ("caps", self._caps),
        )

    # ---- the door: from memory, within Discord's 3 seconds ----------------------------------------------

    def refusal(self, knock: Knock) -> Text | None:
        """Why the door stays shut (the first check, in `CHECKS`' order, that says no), or None. Nothing is
        reserved or recorded: the Edit button asks this before its form opens, the form's submission opens."""
        for _, check in self.checks:
            if (reason := check(knock)) is not None:
                return reason
        return None

    @contextmanager
    def open(self, knock: Knock) -> Iterator[Ticket]:
        """Every check, in one order; when all pass, the follow-up cooldown starts and the member's place is
        reserved (no await in between), held until the block ends. Raises `RefusedRequest` with the first
        reason."""
        reason = self.refusal(knock)
        if reason is not None:
            raise RefusedRequest.saying(reason)
        user_id = knock.asker.user_id
        if knock.job is not None:
            self._last_follow_up[user_id] = time.monotonic()
        self.engine.reservations.add(user_id)
        try:
            yield Ticket(self, knock, self.private(knock.asker))
        finally:
            self.engine.reservations.remove(user_id)

    def may_delete(self, asker: Asker, job: Job) -> None:
        """Deleting a result (or ❌ on a running job) is its maker's or the server's moderators': the door's access
        check, alone (nothing is made, so nothing else applies). Raises `RefusedRequest` when they may not."""
        reason = self._access(Knock(asker, "delete", job))
        if reason is not None:
            raise RefusedRequest.saying(reason)

    def private(self, asker: Asker) -> bool:
        """Whether the member's new job is private: their setting now, where the server allows it."""
        return self.policies.of(asker.guild_id).allow_private and self.store.wants_private(asker.user_id)

    def _access(self, knock: Knock) -> Text | None:
        """A follow-up is the result's maker's, its server's moderators', or anyone's there where it allows it."""
        if knock.job is None or self.access.may_act_on(knock.asker, knock.job, knock.action):
            return None
        return Text("results.not_yours", action=Text(f"verb.{knock.action}"))

    def _policy(self, knock: Knock) -> Text | None:
        """The server's rules for this member here, on what they asked for (again on what is bound: `request`)."""
        texts = knock.texts
        if texts is None:
            texts = (str(knock.job.request.bound.values.get("prompt") or ""),) if knock.job is not None else ()
        return self._policy_on(knock.asker, *texts)

    def _policy_on(self, asker: Asker, *texts: str) -> Text | None:
        policy = self.policies.of(asker.guild_id)
        text = "\n".join(texts)
        return policy.refusal(in_dm=asker.guild_id is None, channel_id=asker.channel_id, roles=asker.roles, text=text)

    def _permissions(self, knock: Knock) -> Text | None:
        """What the bot lacks where the result will be shown, said before any job runs (a private result needs
        nothing of the channel)."""
        asker = knock.asker
        if knock.bot_permissions is None or asker.guild_id is None or self.private(asker):
            return None
        lacking = permissions.missing(knock.bot_permissions)
        if not lacking:
            return None
        return Text("permission.missing", permissions=Joined([Text(f"permission.{name}") for name in lacking], ", "))

    def _cooldown(self, knock: Knock) -> Text | None:
        """Between two follow-ups of one member (rerolls by reaction or button come quickly)."""
        if knock.job is None:
            return None
        last = self._last_follow_up.get(knock.asker.user_id)
        left = 0.0 if last is None else last + self.limits.reroll_cooldown - time.monotonic()
        return Text("results.cooldown", seconds=f"{left:.0f}") if left > 0 else None

    def _caps(self, knock: Knock) -> Text | None:
        """The member's caps and the queue's, then their server's GPU-time budget where it refuses past it."""
        asker = knock.asker
        return self.over_caps(asker.user_id) or self.engine.budgets.refusal(asker.guild_id, asker.user_id)

    def over_caps(self, user_id: int) -> Text | None:
        """Why a member's new job cannot be queued (over their cap, or the queue is full), or None. Jobs being
        made (reserved by `open`) count as queued."""
        engine, limits = self.engine, self.limits
        mine = engine.jobs_of(user_id)
        count = len(mine) + engine.reservations.of(user_id)
        if count >= limits.jobs_per_user:
            positions = sorted(p for j in mine if (p := engine.position(j)) is not None)
            where = Text("admission.where", positions=", ".join(f"#{p}" for p in positions)) if positions else ""
            return Text("admission.over_cap", count=count, limit=limits.jobs_per_user, where=where)
        if len(engine.scheduler) + engine.reservations.total() >= limits.queue_max:
            return Text("admission.queue_full", limit=limits.queue_max)
        return None

    # ---- requests -------------------------------------------------------------------------------------

    async def imagine(
        self,
        asker: Asker,
        prompt: str,
        given: dict[str, Any],
        image: ImageData | None,
        *,
        private: bool,
        audio: ImageData | None = None,
    ) -> JobRequest:
        """`/imagine`: the prompt's inline flags, the options given, the member's defaults."""
        parsed = parse_flags(prompt)
        for option, value in parsed.options.items():
            if option in given:
                raise RequestError("imagine.both", option=option)
            given[option] = value
        tagged = take_loras(parsed.text)
        text = tagged.text
        chosen_lora = given.pop("lora", None)  # the option: one more LoRA, at full strength
        loras = ((str(chosen_lora), 1.0), *tagged.loras) if chosen_lora else tagged.loras
        defaults = await self.store.member_settings(asker.user_id)
        chosen = self._template(asker, str(given.pop("template", defaults.get("template", self.default_template))))
        for option in ("aspect", "negative"):
            wanted = "width" if option == "aspect" else option
            if option not in given and option in defaults and wanted in chosen.parameters:
                given[option] = defaults[option]
        values: dict[str, Any] = {"prompt": text} if "prompt" in chosen.parameters else {}
        if "prompt" not in chosen.parameters and text:
            raise RequestError("imagine.no_prompt", template=chosen.name)
        aspect = given.pop("aspect", None)
        if aspect is not None:
            values.update(self._size(chosen, str(aspect)))
        for option, value in given.items():
            parameter = PARAMETER_OF[option]
            if parameter not in chosen.parameters:
                raise RequestError("imagine.no_option", template=chosen.name, option=option)
            values[parameter] = value
        if loras:
            values.update(self._loras(chosen, loras))
        if image is not None:
            name = next((p.name for p in chosen.parameters.values() if p.type == "image"), None)
            if name is None:
                raise RequestError("imagine.no_image", template=chosen.name)
            values[name] = await self.still(asker, image)
        if audio is not None:
            name = next((p.name for p in chosen.parameters.values() if p.type == "audio"), None)
            if name is None:
                raise RequestError("imagine.no_audio", template=chosen.name)
            values[name] = await self._sound(asker, audio)
        return self.request(asker, Draft(chosen.name, values, "imagine"), None, private)

    def default_problem(self, option: str, value: str) -> Text | None:
        """A default a member saves (`/settings set`) is held, when saved, to what every later /imagine will hold
        it to, so a saved default never refuses each of their commands afterwards; None when it may be saved."""
        if "\x00" in value:  # PostgreSQL's text holds no NUL: said now rather than failing to store it
            return Text("settings.nul")
        if option == "negative" and len(value) > self.limits.prompt_max_length:
            return Text("imagine.negative_too_long", length=len(value), limit=self.limits.prompt_max_length)
        return None

    def attachment_too_big(self, size: int) -> Text | None:
        """Said before an attachment is downloaded: Discord tells its size."""
        limit = self.limits.attachment_max_bytes
        if size <= limit:
            return None
        return Text("attachment.too_big", size=f"{size / 2**20:.1f} MiB", limit=f"{limit / 2**20:.0f} MiB")

    async def _media(self, asker: Asker, work: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Decoding is CPU work: in the media pool, in the member's turn, within its time and memory."""
        try:
            return await self.media.run(asker.user_id, self._media_seconds, work, *args, **kwargs)
        except (MediaTimeout, MediaCrashed, MemoryError) as exc:
            log.warning("a member's file could not be decoded: %r", exc)
            raise AttachmentError("attachment.too_costly", limit=f"{self._media_seconds:g}") from None

    @property
    def _media_seconds(self) -> float:
        return min(self.limits.media_seconds, ATTACHMENT_SECONDS)

    async def still(self, asker: Asker, image: ImageData, *, what: str = "attachment") -> ImageData:
        """The member's attachment (or a result, `what="result_image"`, told as such) as a still PNG the bot
        encoded."""
        try:
            if (too_big := self.attachment_too_big(len(image.data))) is not None:
                raise AttachmentError(too_big.key, **too_big.params)
            still = await self._media(
                asker, still_image, image.data, image.filename, max_pixels=self.limits.attachment_max_pixels
            )
        except AttachmentError as exc:
            told = Text(exc.text.key.replace("attachment.", f"{what}.", 1), **exc.text.params)
            raise RequestError.saying(told) from None
        return ImageData(still.data, still.filename)

    async def _sound(self, asker: Asker, sound: ImageData) -> ImageData:
        """The member's sound as a FLAC the bot encoded."""
        if (too_big := self.attachment_too_big(len(sound.data))) is not None:
            raise RequestError.saying(too_big)
        try:
            data, filename = await self._media(
                asker, safe_sound, sound.data, sound.filename, max_seconds=SOUND_MAX_SECONDS
            )
        except AttachmentError as exc:
            raise RequestError.saying(exc.text) from None
        return ImageData(data, filename)

    def request(self, asker: Asker, draft: Draft, note: str | None, private: bool) -> JobRequest:
        """Every path ends here: bound, held to every limit and the server's words, and runnable somewhere."""
        template = self._template(asker, draft.template)
        self._within_limits(draft.values, {})  # the server's limits first: a template's own bounds may be wider
        bound = template.bind(draft.values)
        self._within_limits(bound.values, bound.graph)  # and on what runs: defaults, the workflow's own batch
        refusal = self._policy_on(asker, *(str(bound.values.get(k) or "") for k in ("prompt", "negative")))
        if refusal is not None:
            raise RequestError.saying(refusal)
        unrunnable = self.engine.pool.never_runnable(bound.graph)
        if unrunnable is not None:
            raise RequestError("imagine.unrunnable", detail=unrunnable)
        policy = self.policies.of(asker.guild_id)
        return JobRequest(
            asker.user_id,
            asker.guild_id,
            asker.channel_id,
            bound,
            draft.kind,
            draft.parent_id,
            note,
            policy.spoiler(template_nsfw=template.nsfw, channel_nsfw=asker.channel_nsfw),
            asker.locale,
            private,  # the member's choice now, not a parent's: a private job is never posted publicly
            policy.weight(asker.roles),
        )

    def _within_limits(self, values: Mapping[str, Any], graph: Mapping[str, Any]) -> None:
        limits = self.limits
        for name in ("prompt", "negative"):
            text = values.get(name)
            if isinstance(text, str) and len(text) > limits.prompt_max_length:
                key = "imagine.too_long" if name == "prompt" else "imagine.negative_too_long"
                raise RequestError(key, length=len(text), limit=limits.prompt_max_length)
        _at_most("steps", values.get("steps"), limits.steps_max, "imagine.steps_max")
        for side in ("width", "height"):
            _at_most(side, values.get(side), limits.image_max_side, "imagine.side_max")
        # the batch, as an option or wherever the workflow sets one (a template without a manifest has no bounds)
        batches = [values.get("batch_size")] + [
            node.get("inputs", {}).get("batch_size") for node in graph.values() if isinstance(node, dict)
        ]
        for batch in batches:
            _at_most("count", batch, limits.batch_max, "imagine.batch_max")

    def _loras(self, template: Template, loras: Sequence[tuple[str, float]]) -> dict[str, Any]:
        """`<lora:...>` tags as values: the template's own LoRA loaders first (its lora, lora_2... parameters),
        then LoRAs added after its model loader, as many as its manifest allows."""
        available = self.engine.pool.choices("LoraLoader", "lora_name")
        slots = [name for name in ("lora", *(f"lora_{n}" for n in range(2, 9))) if name in template.parameters]
        values: dict[str, Any] = {}
        added: list[list[Any]] = []
        for index, (name, strength) in enumerate(loras):
            found = resolve(name, available)
            if index < len(slots):
                slot = slots[index]
                values[slot] = found
                strength_of = slot.replace("lora", "lora_strength", 1)
                if strength_of in template.parameters:
                    values[strength_of] = strength
            else:
                added.append([found, strength])
        if len(added) > template.max_loras:
            raise RequestError(
                "imagine.too_many_loras",
                template=template.name,
                count=len(loras),
                allowed=len(slots) + template.max_loras,
            )
        if added:
            values[LORAS] = added
        return values

    def _template(self, asker: Asker, name: str) -> Template:
        """The template, or the truth about it: unknown, waiting for a ComfyUI server, or refused (and why, to the
        server's admins: the reason names files and nodes, for the people who can fix them)."""
        try:
            return self.library.get(name)
        except UnusableTemplate as exc:
            if exc.text.key == "template.refused" and self.access.admin(asker):
                raise RequestError("template.refused_why", name=name, reason=exc.reason) from None
            raise

    def _size(self, template: Template, aspect: str) -> dict[str, int]:
        """An aspect ratio as a size of the template's own area (its default width and height; the workflow is
        bound once, later, with the size)."""
        if "width" not in template.parameters or "height" not in template.parameters:
            raise RequestError("imagine.no_size", template=template.name)
        area = int(template.default_of("width")) * int(template.default_of("height"))
        width, height = size_for(parse_aspect(aspect), area, self.limits.image_max_side)
        return {"width": width, "height": height}


def _at_most(name: str, value: Any, limit: int, key: str) -> None:
    if value is None or isinstance(value, list):  # unset, or a link to another node's output
        return
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise RequestError("imagine.number", name=name, got=excerpt(repr(value))) from None
    if number > limit:
        raise RequestError(key, side=name, limit=limit, got=value)
