# Sourced by setup.sh and package.sh: `ensure_venv DIR REQUIREMENTS WHAT` creates the
# virtualenv DIR if needed and installs REQUIREMENTS into it, once per version of that
# file (a stamp of its hash in DIR/.carveout-stamp), so re-running only checks.
stamp() { sha256sum "$@" | sha256sum | cut -c1-16; }

ensure_venv() {
  local dir=$1 requirements=$2 what=$3 want
  want=$(stamp "$requirements")
  if [ "$(cat "$dir/.carveout-stamp" 2>/dev/null)" != "$want" ]; then
    echo "$what: installing $requirements into $dir"
    [ -x "$dir/bin/python" ] || python3 -m venv "$dir"
    "$dir/bin/pip" install --quiet --disable-pip-version-check -r "$requirements"
    echo "$want" > "$dir/.carveout-stamp"
  fi
}
