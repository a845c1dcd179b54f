"""The dependencies layer's requirements, with the development lock's hashes: what ships is what
was tested.

``layers/dependencies/requirements.txt`` names the layer's closure (what the Lambda runtime does
not ship). Each of its pins carries the hashes ``requirements-dev.lock`` holds for the same
version, so the layer build (``pip install --require-hashes``) installs exactly the
distributions the tests ran on, for the Lambda platform's wheels (the lock holds every file's
hash of a version). ``check`` (a test runs it) fails when a pin and the lock part; ``write``
rewrites the file from the lock:

    python -m pshub_infra.layer_lock write
"""

from __future__ import annotations

import re
import sys

from pshub_infra.topology import REPO_ROOT

LOCK_FILE = REPO_ROOT / "requirements-dev.lock"
LAYER_REQUIREMENTS = REPO_ROOT / "layers" / "dependencies" / "requirements.txt"
_PIN = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)(?P<extras>\[[^\]]*\])?==(?P<version>[^\s\\;]+)")
_HASH = re.compile(r"--hash=(sha256:[0-9a-f]{64})")


def _key(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def lock_hashes(lock_text: str) -> dict[str, tuple[str, list[str]]]:
    """Distribution (normalised name) -> (version, its hashes) in a pip-compile style lock."""
    found: dict[str, tuple[str, list[str]]] = {}
    current: str | None = None
    for line in lock_text.splitlines():
        pin = _PIN.match(line)
        if pin:
            current = _key(pin["name"])
            found[current] = (pin["version"], [])
        elif current and (hashed := _HASH.search(line)):
            found[current][1].append(hashed.group(1))
        elif not line.startswith(" "):
            current = None
    return found


def render(requirements_text: str, lock_text: str) -> str:
    """The layer's requirements with each pin's hashes from the lock (comments kept)."""
    lock = lock_hashes(lock_text)
    out: list[str] = []
    for line in requirements_text.splitlines():
        if line.startswith("    --hash=") or line.startswith("    #"):
            continue  # the previous rendering's hashes: rendered again below
        pin = _PIN.match(line)
        if pin is None:
            out.append(line)
            continue
        key = _key(pin["name"])
        if key not in lock:
            raise ValueError(
                f"{pin['name']} is in the layer but not in {LOCK_FILE.name}: the tests never ran on it"
            )
        version, hashes = lock[key]
        if version != pin["version"]:
            raise ValueError(
                f"{pin['name']}=={pin['version']} in the layer, =={version} in {LOCK_FILE.name}: "
                "pin the version the tests ran on"
            )
        if not hashes:
            raise ValueError(f"{pin['name']} has no hashes in {LOCK_FILE.name}")
        spec = f"{pin['name']}{pin['extras'] or ''}=={version}"
        out.append(f"{spec} \\")
        out += [f"    --hash={h} \\" for h in hashes[:-1]]
        out.append(f"    --hash={hashes[-1]}")
    return "\n".join(out) + "\n"


def main(argv: list[str]) -> int:
    rendered = render(LAYER_REQUIREMENTS.read_text(encoding="utf-8"), LOCK_FILE.read_text(encoding="utf-8"))
    if argv[1:] == ["write"]:
        LAYER_REQUIREMENTS.write_text(rendered, encoding="utf-8")
        print(f"wrote {LAYER_REQUIREMENTS.relative_to(REPO_ROOT)}")
        return 0
    if argv[1:] in ([], ["check"]):
        if rendered != LAYER_REQUIREMENTS.read_text(encoding="utf-8"):
            print(f"{LAYER_REQUIREMENTS.relative_to(REPO_ROOT)} is out of step with the lock: run `write`")
            return 1
        print("in step with the lock")
        return 0
    print("usage: python -m pshub_infra.layer_lock [check|write]", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
