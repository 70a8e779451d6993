#!/usr/bin/env bash
# The floor rehearsal (`make floor`): does cnnlib work with the oldest versions it claims?
#
# 1. A fresh virtual environment on the lowest Python that requires-python claims
#    ($FLOOR_PYTHON), outside the course's .venv.
# 2. The floor pinned in tools/floor-requirements.txt (pyproject.toml's lower bounds).
# 3. cnnlib installed as the Colab setup cell installs it: `pip install "git+URL"` on top
#    of the torch already there. A local git repository stands in for the course's: by
#    default a snapshot of the working tree (uncommitted changes included);
#    FLOOR_SOURCE=head clones the committed HEAD instead.
# 4. The installed versions must still be the pins (pip must not have upgraded torch).
# 5. The unit tests, run against the installed cnnlib (not the repository's cnnlib/), on
#    the CPU: the CUDA-only paths (GradScaler, the bf16 check) run only as far as the
#    unit tests reach them there.
# 6. The chapters as a Colab user runs them, at the floor: every notebook under chapters/,
#    executed top to bottom in the smoke profile by a Jupyter kernel of this environment,
#    from a folder outside the clone (Colab has only the notebook; a results file the
#    chapter cannot find there is skipped, as the chapter says).
# 7. The other corner a Colab user meets: torch and torchvision stay at the floor while
#    the rest (numpy, matplotlib, tqdm) is upgraded to the newest releases for this Python
#    (numpy 2 is what torch 2.2 and older cannot use). The unit tests again.
#
# Any failure exits non-zero. Every wheel is downloaded once into a wheelhouse,
# $FLOOR_WHEELS (default ~/.cache/cnnlib-floor/wheels; 2.7 GB: torch's CUDA build and
# its nvidia-* wheels) and installed from there, so a second run downloads nothing. (pip's
# own HTTP cache is not enough: it keeps nothing when the index does not allow caching.)
# Environment: FLOOR_VENV (default .venv-floor), FLOOR_SOURCE (worktree|head), FLOOR_WHEELS,
# FLOOR_PINS (another pins file, to rehearse a candidate floor before declaring it),
# FLOOR_PYTHON_BIN (the interpreter to use instead of searching for python$FLOOR_PYTHON),
# CNNLIB_DATA_DIR (the Fashion-MNIST cache, shared with the course's environment).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

# The lowest Python of pyproject.toml's requires-python (tests/test_packaging.py checks it).
FLOOR_PYTHON=3.10
VENV=${FLOOR_VENV:-.venv-floor}
[[ $VENV = /* ]] || VENV=$ROOT/$VENV
SOURCE=${FLOOR_SOURCE:-worktree}
PINS=${FLOOR_PINS:-tools/floor-requirements.txt}
WHEELS=${FLOOR_WHEELS:-${XDG_CACHE_HOME:-$HOME/.cache}/cnnlib-floor/wheels}
# Not run here: they need the book, browser, notebook or benchmark tooling, or they check
# the repository's own files (packaging, API page, bibliography, about-the-numbers page,
# repository settings, CI workflow) rather than the installed package.
SKIP_TESTS=(test_book.py test_notebooks.py test_benchmark_verdict.py test_packaging.py
            test_api_reference.py test_references.py test_about_numbers.py
            test_set_repository.py test_workflows.py)
# The test tools, at the course's own pins in requirements.txt.
TEST_TOOLS=(pytest pytest-timeout torchinfo)
# What runs the chapters, as Colab's own Jupyter does: the newest releases for this Python
# (requirements.txt pins ipykernel 7.4, which needs Python 3.11).
NOTEBOOK_TOOLS=(nbclient nbformat ipykernel)

unset PYTHONPATH  # only the installed cnnlib may be importable
start=$(date +%s)
phase_start=$start
PHASE=
phase() {  # phase NAME: say how long the previous phase took, start the next one
  local now; now=$(date +%s)
  [[ -z $PHASE ]] || printf '=== %s: %d s\n' "$PHASE" $((now - phase_start))
  PHASE=$1; phase_start=$now
  [[ -z $PHASE ]] || printf '=== %s\n' "$PHASE"
}

# The first interpreter that runs: $FLOOR_PYTHON_BIN, pyenv's newest patch release of that
# minor version, python$FLOOR_PYTHON on PATH (a pyenv shim there may not run).
python_bin=
for candidate in ${FLOOR_PYTHON_BIN:-} \
    $(ls -d "$HOME"/.pyenv/versions/"$FLOOR_PYTHON".*/bin/python"$FLOOR_PYTHON" 2>/dev/null | sort -rV) \
    $(command -v "python$FLOOR_PYTHON" || true); do
  if "$candidate" -c '' 2>/dev/null; then python_bin=$candidate; break; fi
done
[[ -n $python_bin ]] || { echo "check_floor: no working python$FLOOR_PYTHON (set FLOOR_PYTHON_BIN)" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
pinned_names=$(sed -e 's/#.*//' -e 's/==.*//' "$PINS" | xargs)
versions() {  # the installed versions of the pinned packages, on one line
  "$PY" -m pip freeze | grep -iE "^($(tr ' ' '|' <<< "$pinned_names"))==" | xargs
}
check_pins() {  # check_pins NAME...: these packages must still be at their pins
  "$PY" - "$PINS" "$@" <<'PYEOF'
import sys
from importlib.metadata import version
pins = dict(line.split("#")[0].strip().split("==") for line in open(sys.argv[1]) if line.split("#")[0].strip())
moved = [f"{n} {version(n)} (pinned {pins[n]})" for n in sys.argv[2:] if version(n) != pins[n]]
assert not moved, "pip moved the floor: " + ", ".join(moved)
PYEOF
}

phase "fresh virtual environment $VENV ($python_bin)"
rm -rf "$VENV"
"$python_bin" -m venv "$VENV"
PY=$VENV/bin/python
"$PY" -c "import sys; assert sys.version_info[:2] == tuple(map(int, '$FLOOR_PYTHON'.split('.'))), sys.version"

phase "the floor: pip install -r $PINS (wheels: $WHEELS)"
mkdir -p "$WHEELS"
"$PY" -m pip download -d "$WHEELS" -r "$PINS"  # skips the wheels already there
"$PY" -m pip install --no-index --find-links "$WHEELS" -r "$PINS"

phase "test tools at requirements.txt's pins: ${TEST_TOOLS[*]}; ${NOTEBOOK_TOOLS[*]}"
tool_pins=()
for tool in "${TEST_TOOLS[@]}"; do
  pin=$(grep -iE "^${tool}==" requirements.txt) || { echo "check_floor: $tool is not pinned in requirements.txt" >&2; exit 1; }
  tool_pins+=("$pin")
done
"$PY" -m pip download -d "$WHEELS" "${tool_pins[@]}" "${NOTEBOOK_TOOLS[@]}"
"$PY" -m pip install --no-index --find-links "$WHEELS" "${tool_pins[@]}" "${NOTEBOOK_TOOLS[@]}"

phase "cnnlib from a git URL (source: $SOURCE)"
case $SOURCE in
  worktree)  # tracked and untracked-but-not-ignored files, as they are on disk now
    mkdir "$work/src"
    git ls-files -z --cached --others --exclude-standard \
      | while IFS= read -r -d '' f; do [[ -e $f ]] && printf '%s\0' "$f"; done \
      | tar --null -T - -cf - | tar -xf - -C "$work/src"
    git -C "$work/src" init -q
    git -C "$work/src" add -A
    git -C "$work/src" -c user.name=floor -c user.email=floor@localhost commit -qm "working tree snapshot"
    ;;
  head) git clone -q "$ROOT" "$work/src" ;;
  *) echo "check_floor: FLOOR_SOURCE must be worktree or head, not $SOURCE" >&2; exit 1 ;;
esac
echo "source: $SOURCE of $(git rev-parse --short HEAD), $(git -C "$work/src" ls-files | wc -l) files"
# What the Colab setup cell runs, with this clone as the repository.
"$PY" -m pip install "git+file://$work/src"

phase "the pins survived, and the installed cnnlib is the one imported"
# shellcheck disable=SC2086
check_pins $pinned_names
(cd / && "$PY" -c "
import cnnlib, os, sys
assert cnnlib.__file__.startswith(sys.prefix), f'imported {cnnlib.__file__}, not the installed cnnlib'
print('cnnlib from', os.path.dirname(cnnlib.__file__))")
"$PY" -m pip check

phase "Fashion-MNIST cache (fetched once, shared with .venv)"
(cd "$work" && "$PY" -m cnnlib.data)

# A copy of the tests without cnnlib/ beside them, so that `import cnnlib` can only find
# the installed package. -o addopts= drops the nbval options of pyproject.toml.
mkdir "$work/run"
# experiments/: their tests run the scripts (with --quick) against the installed cnnlib.
cp -r "$work/src/tests" "$work/src/experiments" "$work/src/conftest.py" "$work/src/pyproject.toml" "$work/run/"
for t in "${SKIP_TESTS[@]}"; do rm -f "$work/run/tests/$t"; done
unit_tests() {  # unit_tests WHAT
  (cd "$work/run" && "$VENV/bin/pytest" -o addopts= -ra --tb=short -p no:cacheprovider tests) \
    || { echo "check_floor: the unit tests FAILED with $1" >&2; exit 1; }
}

phase "unit tests against the installed cnnlib, at the floor"
floor_versions=$(versions)
echo "versions: $floor_versions"
unit_tests "the floor ($floor_versions)"

phase "the chapters, as on Colab, at the floor (smoke profile)"
mkdir "$work/colab"
cp "$work/src"/chapters/*.ipynb "$work/colab/"
(cd "$work/colab" && CNNLIB_PROFILE=smoke "$PY" - <<'PYEOF'
import glob, sys, time
import nbformat
from nbclient import NotebookClient
failed = []
for path in sorted(glob.glob("*.ipynb")):
    nb = nbformat.read(path, as_version=4)
    start = time.perf_counter()
    try:
        NotebookClient(nb, timeout=600, kernel_name="python3").execute()
        print(f"  {path}: ran in {time.perf_counter() - start:.0f} s", flush=True)
    except Exception as err:  # the first failing cell: its error, and the cell's first lines
        failed.append(path)
        what = f"{getattr(err, 'ename', type(err).__name__)}: {getattr(err, 'evalue', err)}"
        print(f"  {path}: FAILED after {time.perf_counter() - start:.0f} s: {what[:1500]}", flush=True)
sys.exit(f"check_floor: chapters failed at the floor: {failed}" if failed else 0)
PYEOF
)

rest=$(tr ' ' '\n' <<< "$pinned_names" | grep -viE '^(torch|torchvision)$' | xargs)
phase "torch and torchvision at the floor, the newest $rest"
# pip download resolves afresh: the newest releases for this Python, whatever is installed.
# shellcheck disable=SC2086
"$PY" -m pip download -d "$WHEELS" $rest
# shellcheck disable=SC2086
"$PY" -m pip install --no-index --find-links "$WHEELS" --upgrade $rest
check_pins torch torchvision
"$PY" -m pip check
newest_versions=$(versions)
echo "versions: $newest_versions"
unit_tests "torch at the floor and the rest upgraded ($newest_versions)"

phase ""
"$PY" -m pip freeze > "$VENV/freeze.txt"
echo "=== the floor passed in $(( $(date +%s) - start )) s on Python $("$PY" -c 'import platform; print(platform.python_version())')"
echo "at the floor:          $floor_versions"
echo "with the rest upgraded: $newest_versions"
echo "(the last environment, in full: $VENV/freeze.txt; wheelhouse: $(du -sh "$WHEELS" | cut -f1))"
