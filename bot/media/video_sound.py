"""Videos and sounds over Discord's upload limit, re-encoded to fit with PyAV (FFmpeg's libraries, with their
codecs in the wheel): a video as H.264 in MP4 (its sound as AAC), a sound as MP3, both formats every Discord
client plays inline. The bitrate is what the limit allows over the file's duration; a video that would need
less than ~0.04 bits a pixel is also scaled down. When the first try comes out too large, the next aims lower.
None when it cannot fit (too long for any bitrate worth hearing or seeing); `Unreadable` when the file is not a
video or a sound FFmpeg can read.

CPU work of seconds: the caller runs it in a worker thread, never on the event loop.
"""

from __future__ import annotations

import io
from fractions import Fraction

import av


class Unreadable(Exception):
    """Not a video or a sound FFmpeg can read (a damaged file, another kind under a media name)."""


# The containers the bot reads, known by their first bytes, each opened with its own demuxer only. FFmpeg's probe
# would otherwise choose among all of its demuxers, some of which read other files or the network by what the
# input says (concat scripts, SDP, HLS and DASH playlists, image sequences): an 81-byte "sound" could make the bot
# read another member's file. So nothing is probed, and no protocol is allowed but the bytes in hand.
def _container(head: bytes) -> str | None:
    if head.startswith(b"fLaC"):
        return "flac"
    if head.startswith(b"RIFF") and head[8:12] == b"WAVE":
        return "wav"
    if head.startswith(b"OggS"):
        return "ogg"
    if head.startswith(b"\x1a\x45\xdf\xa3"):  # EBML: Matroska and WebM
        return "matroska"
    if head[4:8] == b"ftyp":  # ISO base media: MP4, M4A, MOV
        return "mov"
    if head.startswith(b"ID3") or (len(head) > 1 and head[0] == 0xFF and head[1] & 0xE6 == 0xE2):
        return "mp3"  # an ID3 tag, or an MPEG audio layer III frame's sync word
    if len(head) > 1 and head[0] == 0xFF and head[1] & 0xF6 == 0xF0:
        return "aac"  # ADTS
    return None


def open_media(data: bytes) -> av.container.InputContainer:
    """The bytes as a container FFmpeg demuxes from memory, with the demuxer its first bytes name, never one FFmpeg
    guesses, and no protocol to open anything else; `Unreadable` when they are no container of the list."""
    name = _container(data[:16])
    if name is None:
        raise Unreadable("not a sound or a video of a known kind (FLAC, WAV, Ogg, MP3, AAC, MP4, WebM, Matroska)")
    options = {"protocol_whitelist": "", "format_whitelist": name}
    return av.open(io.BytesIO(data), "r", format=name, options=options)


VIDEO_SUFFIXES = (".mp4", ".webm", ".mov", ".mkv")
AUDIO_SUFFIXES = (".flac", ".mp3", ".wav", ".opus", ".ogg", ".m4a")
HEADROOM = 0.9  # of the limit the streams aim at (the container and the encoder's overshoot take the rest)
AUDIO_IN_VIDEO = 64_000  # bits a second for a video's sound
MIN_AUDIO = 24_000  # below this a sound is not worth hearing: not re-encoded
MAX_AUDIO = 192_000
MIN_VIDEO = 50_000
MIN_BITS_PER_PIXEL = 0.04  # below this (per pixel per frame), the picture is halved in area instead
TRIES = 4
MAX_SECONDS = 3 * 3600  # a video or sound longer than this (by its container) is not re-encoded
# what is decoded is held to what the container declares: a file that says 1 s and holds 4 h is stopped here
DECLARED_SLACK = 1.25  # times the declared duration, plus
DECLARED_GRACE = 2.0  # seconds


def fit_video(data: bytes, limit: int) -> bytes | None:
    """The video as an MP4 of at most `limit` bytes, or None; `LongerThanDeclared`."""
    try:
        with open_media(data) as source:
            stream = source.streams.video[0]
            duration = _seconds(source, stream)
            width, height = stream.codec_context.width, stream.codec_context.height
            rate = stream.average_rate or Fraction(24)
            has_audio = bool(source.streams.audio)
    except (av.FFmpegError, IndexError, ValueError) as exc:
        raise Unreadable(f"a video that cannot be read: {exc}") from None
    if duration > MAX_SECONDS:
        return None
    budget = limit * 8 * HEADROOM / max(duration, 0.1) - (AUDIO_IN_VIDEO if has_audio else 0)
    for _ in range(TRIES):
        if budget < MIN_VIDEO:
            return None
        scale = 1.0
        while budget / (width * height * scale * scale * float(rate)) < MIN_BITS_PER_PIXEL and width * scale > 160:
            scale *= 0.7071
        size = (_even(width * scale), _even(height * scale))
        try:
            encoded = _encode_video(data, int(budget), *size, rate, has_audio, _allowed(duration))
        except TooLong:
            raise LongerThanDeclared(duration) from None
        if len(encoded) <= limit:
            return encoded
        budget *= 0.85 * limit / len(encoded)
    return None


def fit_audio(data: bytes, limit: int) -> bytes | None:
    """The sound as an MP3 of at most `limit` bytes, or None; `LongerThanDeclared`."""
    try:
        with open_media(data) as source:
            stream = source.streams.audio[0]
            duration = _seconds(source, stream)
    except (av.FFmpegError, IndexError, ValueError) as exc:
        raise Unreadable(f"a sound that cannot be read: {exc}") from None
    if duration > MAX_SECONDS:
        return None
    bitrate = min(MAX_AUDIO, limit * 8 * HEADROOM / max(duration, 0.1))
    for _ in range(TRIES):
        if bitrate < MIN_AUDIO:
            return None
        try:
            encoded = _encode_audio(data, int(bitrate), _allowed(duration))
        except TooLong:
            raise LongerThanDeclared(duration) from None
        if len(encoded) <= limit:
            return encoded
        bitrate *= 0.85 * limit / len(encoded)
    return None


def _seconds(source: av.container.InputContainer, stream: av.stream.Stream) -> float:
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if source.duration is not None:
        return source.duration / av.time_base
    return 1.0


def _allowed(declared: float) -> float:
    """Seconds of a file that may be decoded, by the duration its container declares."""
    return declared * DECLARED_SLACK + DECLARED_GRACE


def _even(value: float) -> int:
    return max(2, int(value) // 2 * 2)


def _encode_video(
    data: bytes, bitrate: int, width: int, height: int, rate: Fraction, has_audio: bool, seconds: float
) -> bytes:
    out = io.BytesIO()
    with open_media(data) as source, av.open(out, "w", format="mp4") as target:
        video = target.add_stream("libx264", rate=rate)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        video.bit_rate = bitrate
        video.options = {"preset": "veryfast", "maxrate": str(bitrate), "bufsize": str(bitrate * 2)}
        sound = sound_stream(source, target, "aac", AUDIO_IN_VIDEO) if has_audio else None  # before any packet
        for index, frame in enumerate(source.decode(video=0)):
            if index > seconds * rate:
                raise TooLong(f"more than {seconds:g} s of frames")
            picture = frame.reformat(width=width, height=height, format="yuv420p")
            picture.pts, picture.time_base = index, Fraction(1) / rate
            target.mux(video.encode(picture))
        target.mux(video.encode(None))
        if sound is not None:
            source.seek(0)
            encode_sound(source, target, *sound, max_samples=seconds * sound[0].rate)
    return out.getvalue()


def _encode_audio(data: bytes, bitrate: int, seconds: float) -> bytes:
    out = io.BytesIO()
    with open_media(data) as source, av.open(out, "w", format="mp3") as target:
        sound = sound_stream(source, target, "libmp3lame", bitrate)
        if sound is not None:
            encode_sound(source, target, *sound, max_samples=seconds * sound[0].rate)
    return out.getvalue()


class TooLong(Exception):
    """A sound past the length asked for (`encode_sound`'s `max_samples`)."""


class LongerThanDeclared(Exception):
    """A file holding more than its container declares (a header that says 1 s over hours of frames): it is not
    decoded past the declared length, and not re-encoded."""

    def __init__(self, declared: float) -> None:
        super().__init__(f"holds more than the {declared:.1f} s it declares")
        self.declared = declared


def sound_stream(
    source: av.container.InputContainer,
    target: av.container.OutputContainer,
    codec: str,
    bitrate: int | None = None,
    *,
    any_rate: bool = False,
) -> tuple[av.audio.stream.AudioStream, av.AudioResampler] | None:
    """A stream in `target` for the source's first sound, and what converts its samples for the encoder; the
    sample rate kept when `any_rate` (FLAC; at most 48 kHz, what audio models take), else one MP3 and AAC take."""
    if not source.streams.audio:
        return None
    context = source.streams.audio[0].codec_context
    rate = context.sample_rate or 44_100
    if not any_rate and rate not in (32_000, 44_100, 48_000):
        rate = 44_100
    rate = min(rate, 48_000)  # FLAC takes up to 655 kHz: a "tiny" sound at that rate is 14x the samples to encode
    layout = "stereo" if context.channels > 1 else "mono"
    stream = target.add_stream(codec, rate=rate)
    assert isinstance(stream, av.audio.stream.AudioStream)
    stream.layout = layout
    if bitrate is not None:
        stream.bit_rate = bitrate
    return stream, av.AudioResampler(format=stream.format.name, layout=layout, rate=rate)


def encode_sound(
    source: av.container.InputContainer,
    target: av.container.OutputContainer,
    stream: av.audio.stream.AudioStream,
    resampler: av.AudioResampler,
    max_samples: float | None = None,
) -> int:
    """Every sample of the source's first sound into `stream`; how many. TooLong past `max_samples`."""
    samples = 0
    for frame in source.decode(audio=0):
        samples += frame.samples
        if max_samples is not None and samples > max_samples:
            raise TooLong(f"more than {max_samples:g} samples")
        frame.pts = None
        for piece in resampler.resample(frame):
            target.mux(stream.encode(piece))
    for piece in resampler.resample(None):
        target.mux(stream.encode(piece))
    target.mux(stream.encode(None))
    return samples
