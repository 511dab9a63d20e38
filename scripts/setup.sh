# Sourced by scripts/run and scripts/test: the interpreter checked first, then .venv made and the bot installed
# into it only when pyproject.toml changed since the last install (a stamp in .venv), so a start needs no network
# once installed. PYTHON chooses the interpreter (PYTHON=python3.12 bash scripts/run); EXTRAS, what to install
# beside the bot ("dev" for the tests).
PYTHON="${PYTHON:-python3}"
EXTRAS="${EXTRAS:-}"

fail() {
    echo "$*" >&2
    exit 1
}

if ! command -v "$PYTHON" >/dev/null 2>&1; then
    fail "no '$PYTHON' here: install Python 3.11 or newer (Debian, Ubuntu: apt install python3.11 python3.11-venv), or name one: PYTHON=python3.12 bash $0"
fi
if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    fail "$PYTHON is Python $("$PYTHON" -c 'import sys; print(".".join(map(str, sys.version_info[:3])))' 2>/dev/null || echo '(unknown)'); the bot needs 3.11 or newer: install it (Debian, Ubuntu: apt install python3.11 python3.11-venv) and run PYTHON=python3.11 bash $0"
fi

LOCK="requirements-${EXTRAS:-run}.lock"  # exact versions, when the project has them for what is installed
stamp_of() {  # what was installed from: pyproject.toml, and the lock when there is one
    { cat pyproject.toml; cat "$1" 2>/dev/null || true; } | sha256sum | cut -c1-64
}
wanted="$(stamp_of "$LOCK")"
stamp=".venv/.installed${EXTRAS:+-$EXTRAS}"
installed() {  # the bot, with what was asked, installed from this very pyproject.toml
    [ -x .venv/bin/python ] && { [ "$(cat "$stamp" 2>/dev/null)" = "$wanted" ] ||
        { [ -z "$EXTRAS" ] && [ "$(cat .venv/.installed-dev 2>/dev/null)" = "$(stamp_of requirements-dev.lock)" ]; }; }
}
if ! installed; then
    echo "Installing the bot and its dependencies into .venv with $("$PYTHON" -V 2>&1) (the first time: about a minute; only again when pyproject.toml changes)..."
    if ! "$PYTHON" -c 'import ensurepip, venv' 2>/dev/null; then
        fail "$PYTHON cannot make a virtual environment: install its venv module (Debian, Ubuntu: apt install python3.11-venv)"
    fi
    [ -x .venv/bin/python ] || "$PYTHON" -m venv .venv || fail "could not make .venv with $PYTHON"
    .venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip || true  # (old pips: PEP 660)
    if [ -f "$LOCK" ]; then  # the locked versions, then the bot itself
        .venv/bin/python -m pip install --quiet --disable-pip-version-check --progress-bar off -r "$LOCK" &&
            .venv/bin/python -m pip install --quiet --disable-pip-version-check --no-deps -e . ||
            fail "the install failed (above: pip's reason; is the package index reachable?); nothing was started"
    elif ! .venv/bin/python -m pip install --quiet --disable-pip-version-check --progress-bar off -e ".${EXTRAS:+[$EXTRAS]}"; then
        fail "the install failed (above: pip's reason; is the package index reachable?); the bot was not started"
    fi
    echo "$wanted" >"$stamp"
    echo "Installed."
fi
