#!/usr/bin/env bash
# Tests of docker/entrypoint.sh without Docker: it renders the config into a scratch directory
# (QTUMLN_DATA_DIR), and the result is read back with Python's tomllib. Also checks that
# docker/qtum-lnd.toml.example names exactly the keys of crates/qtum-lnd/src/config.rs.
# Prints "N passed, N failed" and exits non-zero on any failure.
#
# The `bash -c '...' _ ARGS` checks read their arguments as $1, $2: single quotes are meant.
# shellcheck disable=SC2016
set -uo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
entry="$root/docker/entrypoint.sh"
schema="$root/crates/qtum-lnd/src/config.rs"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

if ! python3 -c 'import tomllib' 2>/dev/null; then
  echo "test-entrypoint: needs python3 with tomllib (Python 3.11 or newer)" >&2
  exit 1
fi

passed=0
failed=0
ok() { passed=$((passed + 1)); echo "ok   - $1"; }
not_ok() { failed=$((failed + 1)); echo "FAIL - $1" >&2; }
check() {
  local name=$1
  shift
  if "$@"; then ok "$name"; else not_ok "$name"; fi
}

API_PW='api pass "with" \ & @QTUM_NETWORK@ 12+'
RPC_PW='rpc$pass"\word&'

# Clear every variable the entrypoint reads, so the caller's environment cannot leak in.
clean_env() {
  env -u QTUM_NETWORK -u QTUM_RPC_URL -u QTUM_RPC_USER -u QTUM_RPC_PASSWORD \
    -u QTUM_RPC_PASSWORD_FILE -u QTUM_ALLOW_INSECURE_HTTP -u QTUM_ZMQ_BLOCK -u QTUM_ZMQ_TX \
    -u QTUMLN_API_PASSWORD -u QTUMLN_API_PASSWORD_FILE -u QTUMLN_API_LISTEN -u QTUMLN_ALIAS \
    -u QTUMLN_ANNOUNCE -u QTUMLN_LOG_LEVEL -u QTUMLN_CONFIG -u QTUMLN_TEMPLATE "$@"
}

# run DIR VAR=VALUE... -- ARGS: run the entrypoint with its data directory in DIR; sets $out
# (stdout and stderr) and $rc.
run() {
  local dir=$1
  shift
  local vars=()
  while [ $# -gt 0 ] && [ "$1" != -- ]; do vars+=("$1"); shift; done
  shift
  out=$(clean_env QTUMLN_DATA_DIR="$dir" "${vars[@]}" bash "$entry" "$@" 2>&1)
  rc=$?
}

# toml FILE EXPR: evaluate a Python expression over the parsed file (bound to c).
toml() {
  python3 - "$1" "$2" <<'EOF'
import sys, tomllib
c = tomllib.load(open(sys.argv[1], "rb"))
print(eval(sys.argv[2]))
EOF
}

no_secret_in_output() {
  ! grep -qF -- "$API_PW" <<<"$out" && ! grep -qF -- "$RPC_PW" <<<"$out" &&
    ! grep -qF "0123456789abcdef" <<<"$out"
}

FULL=(QTUM_NETWORK=testnet QTUM_RPC_URL=http://qtumd:3889 QTUM_RPC_USER=qtumln
  "QTUM_RPC_PASSWORD=$RPC_PW" QTUM_ALLOW_INSECURE_HTTP=true
  QTUM_ZMQ_BLOCK=tcp://qtumd:28332 QTUM_ZMQ_TX=tcp://qtumd:28333
  "QTUMLN_API_PASSWORD=$API_PW" QTUMLN_API_LISTEN=0.0.0.0:8080 "QTUMLN_ALIAS=Qtum Lightning ⚡"
  QTUMLN_ANNOUNCE=203.0.113.9:9735 QTUMLN_LOG_LEVEL=debug)

# ----- a full rendering -----
d="$tmp/full"
run "$d" "${FULL[@]}" -- --render-only
check "full: --render-only exits 0" test "$rc" = 0
cfg="$d/qtum-lnd.toml"
check "full: the config exists with mode 600" test "$(stat -c %a "$cfg" 2>/dev/null)" = 600
check "full: api-password exists with mode 600" test "$(stat -c %a "$d/api-password" 2>/dev/null)" = 600
check "full: api-password holds the password" test "$(cat "$d/api-password")" = "$API_PW"
check "full: the output names no secret" no_secret_in_output
check "full: no placeholder left outside comments" \
  bash -c '! grep -v "^[[:space:]]*#" "$1" | grep -q "@[A-Z_]*@"' _ "$cfg"
# flat FILE: every active key of FILE as "section.key=value", one a line, sorted.
flat() {
  python3 - "$1" <<'EOF'
import sys, tomllib
c = tomllib.load(open(sys.argv[1], "rb"))
rows = []
for k, v in c.items():
    items = v.items() if isinstance(v, dict) else [(None, v)]
    for kk, vv in items:
        rows.append(f"{k}.{kk}={vv}" if kk else f"{k}={vv}")
print("\n".join(sorted(rows)))
EOF
}
want=$(LC_ALL=C sort <<EOF
network=testnet
data_dir=$d
node.alias=Qtum Lightning ⚡
node.announce=['203.0.113.9:9735']
api.listen=0.0.0.0:8080
api.password_file=api-password
chain.rpc_url=http://qtumd:3889
chain.rpc_user=qtumln
chain.rpc_password=$RPC_PW
chain.allow_insecure_http=True
chain.zmq_block=tcp://qtumd:28332
chain.zmq_tx=tcp://qtumd:28333
log.level=debug
EOF
)
got=$(flat "$cfg")
if [ "$got" = "$want" ]; then
  ok "full: exactly the rendered keys are active, every value read back exactly"
else
  not_ok "full: active keys and values differ (< wanted, > got):"
  diff <(printf '%s\n' "$want") <(printf '%s\n' "$got") >&2
fi

# ----- the example and config.rs list the same keys -----
# Commented key lines (`# key = value`) are switched on, so defaults count as documented keys.
# Both print "key type" lines, the type being what TOML must hold for the Rust field:
# string (String, PathBuf), list (Vec<String>), bool, integer.
keys_of_template() {
  sed -E 's/^# ([a-z_]+ = )/\1/' "$1" >"$tmp/all-keys.toml"
  python3 - "$tmp/all-keys.toml" <<'EOF'
import sys, tomllib
c = tomllib.load(open(sys.argv[1], "rb"))
def kind(v):
    if isinstance(v, bool): return "bool"
    if isinstance(v, int): return "integer"
    if isinstance(v, list) and all(isinstance(x, str) for x in v): return "list"
    if isinstance(v, str): return "string"
    return type(v).__name__
for k, v in c.items():
    if isinstance(v, dict):
        for kk, vv in v.items():
            print(f"{k}.{kk} {kind(vv)}")
    else:
        print(f"{k} {kind(v)}")
EOF
}
keys_of_schema() {
  python3 - "$schema" <<'EOF'
import re, sys
src = open(sys.argv[1]).read()
structs = dict(re.findall(r"pub struct (\w+) \{(.*?)\n\}", src, re.S))
sections = dict(re.findall(r"pub (\w+): (\w+Section),", structs["FileConfig"]))
def kind(ty):
    if ty in ("String", "PathBuf"): return "string"
    if ty == "bool": return "bool"
    if ty == "Vec<String>": return "list"
    if re.fullmatch(r"u8|u16|u32|u64|usize", ty): return "integer"
    return "unknown:" + ty
def fields(body):
    return re.findall(r"pub (\w+): Option<(.+)>,", body)
for name, ty in fields(structs["FileConfig"]):
    print(f"{name} {kind(ty)}")
for section, ty in sections.items():
    for name, fty in fields(structs[ty]):
        print(f"{section}.{name} {kind(fty)}")
EOF
}
if [ -f "$schema" ]; then
  keys_of_template "$cfg" | LC_ALL=C sort >"$tmp/template-keys"
  keys_of_schema | LC_ALL=C sort >"$tmp/schema-keys"
  if [ -s "$tmp/schema-keys" ] && diff "$tmp/schema-keys" "$tmp/template-keys" >"$tmp/keys.diff"; then
    ok "the example names every key of config.rs ($(wc -l <"$tmp/schema-keys") keys), with its type, and no other"
  else
    not_ok "the example and config.rs differ (< config.rs, > example):"
    cat "$tmp/keys.diff" >&2
  fi
else
  not_ok "config.rs not found at $schema"
fi

# ----- the smallest rendering -----
d="$tmp/min"
run "$d" QTUM_NETWORK=regtest QTUM_RPC_URL=http://127.0.0.1:13889 QTUMLN_API_PASSWORD=0123456789abcdef -- --render-only
check "minimal: exits 0" test "$rc" = 0
want=$(LC_ALL=C sort <<EOF
network=regtest
data_dir=$d
api.listen=127.0.0.1:8080
api.password_file=api-password
chain.rpc_url=http://127.0.0.1:13889
chain.allow_insecure_http=False
log.level=info
EOF
)
check "minimal: optional keys are commented out, defaults applied" test "$(flat "$d/qtum-lnd.toml")" = "$want"
check "minimal: an unset value leaves a visible commented line" grep -qx '# zmq_block = ""' "$d/qtum-lnd.toml"
check "minimal: the output names no secret" no_secret_in_output

# ----- an existing config is never rewritten; the password file follows the variable -----
run "$d" QTUM_NETWORK=mainnet QTUM_RPC_URL=http://other:3889 QTUMLN_API_PASSWORD=another-password-1 -- --render-only
check "existing: exits 0 and says so" bash -c '[ "$1" = 0 ] && grep -q "exists; not rendered again" <<<"$2"' _ "$rc" "$out"
check "existing: the config is unchanged" test "$(toml "$d/qtum-lnd.toml" 'c["network"]')" = regtest
check "existing: api-password follows QTUMLN_API_PASSWORD" test "$(cat "$d/api-password")" = another-password-1
run "$d" -- --render-only
check "existing: without any variable it still exits 0" test "$rc" = 0
check "existing: ... and leaves api-password alone" test "$(cat "$d/api-password")" = another-password-1

# ----- secrets from files (Docker secrets) -----
printf '%s\r\nsecond line\n' "$API_PW" >"$tmp/api.secret"
printf '%s\n' "$RPC_PW" >"$tmp/rpc.secret"
d="$tmp/files"
run "$d" QTUM_NETWORK=mainnet QTUM_RPC_URL=http://127.0.0.1:3889 QTUM_RPC_USER=u \
  "QTUM_RPC_PASSWORD_FILE=$tmp/rpc.secret" "QTUMLN_API_PASSWORD_FILE=$tmp/api.secret" -- --render-only
check "*_FILE: exits 0" test "$rc" = 0
check "*_FILE: the API password is the file's first line" test "$(cat "$d/api-password")" = "$API_PW"
check "*_FILE: the RPC password is the file's first line" \
  test "$(toml "$d/qtum-lnd.toml" 'c["chain"]["rpc_password"]')" = "$RPC_PW"

# ----- refusals: exit 2, a message naming the variable, nothing written, no secret shown -----
printf 'network = "@QTUM_NETWORK@"\nalias = "@NOPE@"\n' >"$tmp/bad.toml"
BASE=(QTUM_NETWORK=mainnet QTUM_RPC_URL=http://127.0.0.1:3889 "QTUMLN_API_PASSWORD=$API_PW")
n=0
refused() { # refused WHAT-THE-MESSAGE-SAYS VAR=VALUE... (after BASE; a later one wins)
  local says=$1
  shift
  n=$((n + 1))
  local d="$tmp/refused-$n"
  run "$d" "${BASE[@]}" "$@" -- --render-only
  if [ "$rc" = 2 ] && grep -qF -- "$says" <<<"$out" && [ ! -e "$d/qtum-lnd.toml" ] &&
    [ ! -e "$d/api-password" ] && no_secret_in_output; then
    ok "refused ($says): $(printf "%q " "$@")"
  else
    not_ok "refused ($says): ${*}: exit $rc, files: $(find "$d" -mindepth 1 -printf '%f ' 2>/dev/null), output: $out"
  fi
}
refused "QTUMLN_API_PASSWORD is not set" QTUMLN_API_PASSWORD=
refused "at least 12 characters" QTUMLN_API_PASSWORD=0123456789a
refused "QTUMLN_API_PASSWORD contains a control character" "QTUMLN_API_PASSWORD=$API_PW"$'\n'second-line
refused "QTUMLN_API_PASSWORD_FILE: cannot read" QTUMLN_API_PASSWORD= QTUMLN_API_PASSWORD_FILE=/nonexistent/secret
refused "QTUM_NETWORK is not set" QTUM_NETWORK=
refused "QTUM_NETWORK must be mainnet, testnet or regtest" QTUM_NETWORK=signet
refused "QTUM_RPC_URL is not set" QTUM_RPC_URL=
refused "QTUM_RPC_URL must start with http:// or https://" QTUM_RPC_URL=qtumd:3889
refused "QTUM_RPC_URL must not carry credentials" "QTUM_RPC_URL=http://u:$RPC_PW@qtumd:3889"
refused "QTUM_RPC_USER is set without QTUM_RPC_PASSWORD" QTUM_RPC_USER=u
refused "QTUM_RPC_PASSWORD is set without QTUM_RPC_USER" "QTUM_RPC_PASSWORD=$RPC_PW"
refused "QTUM_RPC_PASSWORD contains a control character" QTUM_RPC_USER=u QTUM_RPC_PASSWORD=$'a\tb'
refused "QTUM_ALLOW_INSECURE_HTTP must be true or false" QTUM_ALLOW_INSECURE_HTTP=yes
refused "QTUM_ZMQ_BLOCK must be tcp://host:port" QTUM_ZMQ_BLOCK=qtumd:28332
refused "QTUM_ZMQ_TX must be tcp://host:port" QTUM_ZMQ_TX=tcp://qtumd
refused "QTUMLN_API_LISTEN must be IP:port" QTUMLN_API_LISTEN=localhost:8080
refused "QTUMLN_ANNOUNCE must be a public IP:port" QTUMLN_ANNOUNCE=node.example.org:9735
refused "QTUMLN_ALIAS is longer than 32 bytes" "QTUMLN_ALIAS=ééééééééééééééééé"
refused "QTUMLN_LOG_LEVEL must be" QTUMLN_LOG_LEVEL=verbose
refused "template: unknown placeholder @NOPE@" "QTUMLN_TEMPLATE=$tmp/bad.toml"
d="$tmp/alias-ok"
run "$d" "${BASE[@]}" "QTUMLN_ALIAS=éééééééééééééééé" -- --render-only
check "an alias of exactly 32 bytes (16 two-byte letters) is accepted" test "$rc" = 0
run "$tmp/extra" "${BASE[@]}" -- --render-only something
check "--render-only with another argument is refused" bash -c '[ "$1" = 2 ] && [ ! -e "$2" ]' _ "$rc" "$tmp/extra/qtum-lnd.toml"
: >"$tmp/a-file"
run "$tmp/a-file/data" "${BASE[@]}" -- --render-only
check "an unwritable data directory is refused with exit 2" bash -c '[ "$1" = 2 ] && grep -q "cannot create" <<<"$2"' _ "$rc" "$out"
check "the template used for the unknown-placeholder refusal left no partial file" \
  bash -c '! ls "$1"/refused-*/qtum-lnd.toml.* >/dev/null 2>&1' _ "$tmp"

# ----- what is run -----
mkdir -p "$tmp/bin"
cat >"$tmp/bin/qtum-lnd" <<EOF
#!/usr/bin/env bash
printf '%s\n' "qtum-lnd \$*" >"$tmp/qtum-lnd-args"
EOF
chmod +x "$tmp/bin/qtum-lnd"
d="$tmp/daemon"
run "$d" "${BASE[@]}" "PATH=$tmp/bin:$PATH" -- --some-flag
check "daemon: exits with qtum-lnd's status" test "$rc" = 0
check "daemon: renders first" test -f "$d/qtum-lnd.toml"
check "daemon: execs qtum-lnd --config FILE and passes its options on" \
  test "$(cat "$tmp/qtum-lnd-args" 2>/dev/null)" = "qtum-lnd --config $d/qtum-lnd.toml --some-flag"
rm -f "$tmp/qtum-lnd-args"
run "$tmp/daemon-refused" "PATH=$tmp/bin:$PATH" --
check "daemon: without an API password it does not start" \
  bash -c '[ "$1" = 2 ] && [ ! -e "$2" ]' _ "$rc" "$tmp/qtum-lnd-args"
d="$tmp/passthrough"
run "$d" QTUMLN_API_PASSWORD_FILE=/nonexistent/secret -- echo passed through
check "another command runs as is, without rendering or reading secrets" \
  bash -c '[ "$1" = 0 ] && [ "$2" = "passed through" ] && [ ! -e "$3" ]' _ "$rc" "$out" "$d/qtum-lnd.toml"

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
