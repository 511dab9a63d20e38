"""The README's picture (`docs/imagine.png`): the bot's own result message for one `/imagine`, as the bot sent
it to the fake Discord (its embed, its fields, its image and its buttons), drawn in Discord's dark theme and
photographed by Debian's headless Chromium. A tool, not a CI step: it needs `apt-get install chromium`.

    .venv/bin/python -m bench.readme_screenshot docs/imagine.png

The image is what the fake ComfyUI paints (a pattern, not a picture): the message around it is the bot's.
"""

from __future__ import annotations

import asyncio
import base64
import html
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from tests.discord_helpers import final, imagine
from tests.stack import make_stack

PROMPT = "a red fox in the snow at dawn, watercolor --ar 3:2"
STYLE = """
body { background: #313338; color: #dbdee1; font: 15px/1.375 "gg sans", "Noto Sans", "DejaVu Sans", sans-serif;
       margin: 0; padding: 20px 24px; width: 820px; }
.line { display: flex; gap: 14px; }
.avatar { width: 40px; height: 40px; border-radius: 50%; background: #5865f2; flex: none; }
.name { color: #f2f3f5; font-weight: 600; } .tag { background: #5865f2; color: #fff; font-size: 10px;
       border-radius: 3px; padding: 0 4px; margin-left: 4px; } .used { color: #b5bac1; font-size: 13px; }
.command { color: #c9cdfb; background: rgba(88,101,242,.3); border-radius: 3px; padding: 0 2px; }
.embed { background: #2b2d31; border-left: 4px solid #2ecc71; border-radius: 4px; padding: 8px 16px 16px 12px;
       margin-top: 6px; max-width: 520px; }
.title { color: #f2f3f5; font-weight: 600; margin: 4px 0; } .desc { font-size: 14px; margin-bottom: 8px; }
.fields { display: grid; grid-template-columns: repeat(3, 1fr); gap: 8px 12px; font-size: 14px; }
.fname { color: #f2f3f5; font-weight: 600; } .footer { font-size: 12px; color: #b5bac1; margin-top: 8px; }
img.result { max-width: 400px; border-radius: 4px; margin-top: 12px; display: block; }
.row { display: flex; gap: 8px; margin-top: 8px; }
.button { background: #4e5058; color: #fff; border-radius: 3px; padding: 3px 14px; font-size: 14px; }
.button.primary { background: #5865f2; } .button.danger { background: #da373c; }
"""


def _buttons(components: list[dict[str, Any]]) -> str:
    rows = []
    for row in components:
        styles = {1: "primary", 4: "danger"}
        buttons = [
            f'<span class="button {styles.get(b.get("style", 2), "")}">'
            f"{html.escape((b.get('emoji') or {}).get('name', '') + ' ' + (b.get('label') or '')).strip()}</span>"
            for b in row.get("components", [])
            if b.get("type") == 2
        ]
        rows.append(f'<div class="row">{"".join(buttons)}</div>')
    return "".join(rows)


def page(embed: dict[str, Any], image: bytes, components: list[dict[str, Any]]) -> str:
    fields = "".join(
        f'<div><div class="fname">{html.escape(f["name"])}</div><div>{html.escape(f["value"])}</div></div>'
        for f in embed.get("fields", [])
    )
    picture = base64.b64encode(image).decode()
    footer = (embed.get("footer") or {}).get("text", "")
    return f"""<!doctype html><html><head><meta charset="utf-8"><style>{STYLE}</style></head><body>
<div class="line"><div class="avatar"></div><div>
<div><span class="name">ComfyBot</span><span class="tag">APP</span></div>
<div class="used">member used <span class="command">/imagine</span> prompt: {html.escape(PROMPT)}</div>
<div class="embed"><div class="title">{html.escape(embed.get("title", ""))}</div>
<div class="desc">{html.escape(embed.get("description", ""))}</div><div class="fields">{fields}</div>
<img class="result" src="data:image/png;base64,{picture}">
<div class="footer">{html.escape(footer)}</div></div>{_buttons(components)}</div></div></body></html>"""


def photograph(browser: str, shown: Path, out: Path) -> None:
    subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", f"--screenshot={out.resolve()}",
         "--window-size=870,820", shown.as_uri()],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip


async def capture(out: Path) -> None:
    with tempfile.TemporaryDirectory() as folder:
        stack = await make_stack(1, Path(folder))
        stack.comfys[0].output_side = 384
        try:
            async with stack.start():
                asked = await imagine(stack.discord, PROMPT)
                await stack.discord.until(final(stack.discord, asked), within=60)
                message = stack.discord.original(asked)
        finally:
            await stack.discord.stop()
            await stack.comfys[0].stop()
        shown = Path(folder) / "message.html"
        shown.write_text(page(message.embeds[0], message.files[0].data, message.components))
        browser = shutil.which("chromium") or shutil.which("chromium-browser")
        if browser is None:
            sys.exit("Debian's chromium is needed: apt-get install chromium")
        await asyncio.to_thread(photograph, browser, shown, out)
    print(f"wrote {out}")


if __name__ == "__main__":
    asyncio.run(capture(Path(sys.argv[1] if len(sys.argv) > 1 else "docs/imagine.png")))
