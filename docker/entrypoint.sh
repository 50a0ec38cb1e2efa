#!/usr/bin/env bash
# Entry point of the qtum-lnd image.
#
#   entrypoint.sh [qtum-lnd options]   render the config if missing, then run the daemon
#   entrypoint.sh --render-only        render the config if missing, then exit
#   entrypoint.sh COMMAND [ARGS]       run COMMAND as is (qtum-esplora, qtum-ln, bash, ...)
#
# The config file ($QTUMLN_CONFIG, default $QTUMLN_DATA_DIR/qtum-lnd.toml, with QTUMLN_DATA_DIR
# defaulting to /data) is rendered from the documented example (qtum-lnd.toml.example) only
# when it does not exist: once written, the file is the operator's and is never rewritten. Its
# @PLACEHOLDERS@ come from these variables (a VAR_FILE variable may give any secret instead, as
# a file whose first line is the value, e.g. a Docker secret):
#
#   QTUM_NETWORK              mainnet, testnet or regtest (required)
#   QTUM_RPC_URL              qtumd's JSON-RPC, http(s)://host:port, no credentials (required)
#   QTUM_RPC_USER             RPC user name (with QTUM_RPC_PASSWORD, or neither)
#   QTUM_RPC_PASSWORD         RPC password
#   QTUM_ALLOW_INSECURE_HTTP  true to allow plain http:// to another machine (default false)
#   QTUM_ZMQ_BLOCK, QTUM_ZMQ_TX  qtumd's zmqpubrawblock / zmqpubrawtx, tcp://host:port (optional)
#   QTUMLN_API_PASSWORD       the API password, at least 12 characters (required)
#   QTUMLN_API_LISTEN         the API's address (default 127.0.0.1:8080; the image sets 0.0.0.0:8080)
#   QTUMLN_ALIAS              node alias, at most 32 bytes (optional)
#   QTUMLN_ANNOUNCE           public IP:port peers reach the node at (optional)
#   QTUMLN_LOG_LEVEL          error, warn, info, debug or trace (default info)
#
# The API password goes to api-password beside the config file (mode 0600), which the config
# names as api.password_file; it is rewritten from QTUMLN_API_PASSWORD at every start, so the
# variable stays the one place to change it. No secret is ever printed.
#
# Exit status: 2 when a variable is missing or refused (nothing is written then).
set -euo pipefail
umask 077

DATA_DIR=${QTUMLN_DATA_DIR:-/data}
CONFIG=${QTUMLN_CONFIG:-$DATA_DIR/qtum-lnd.toml}
CONFIG_DIR=$(dirname "$CONFIG")
PASSWORD_FILE="$CONFIG_DIR/api-password"
if [ -z "${QTUMLN_TEMPLATE:-}" ]; then
  QTUMLN_TEMPLATE=/usr/local/share/qtum-lnd/qtum-lnd.toml.example
  [ -f "$QTUMLN_TEMPLATE" ] || QTUMLN_TEMPLATE="$(dirname "$0")/qtum-lnd.toml.example"
fi

die() {
  echo "entrypoint: $*" >&2
  exit 2
}

# A half-written file is removed whatever stops the script.
partial=
trap '[ -z "$partial" ] || rm -f "$partial"' EXIT

# secret NAME: the variable's value, else the first line of the file $NAME_FILE names.
secret() {
  local name=$1 file_var="${1}_FILE" value
  value=${!name:-}
  if [ -z "$value" ] && [ -n "${!file_var:-}" ]; then
    [ -r "${!file_var}" ] || die "$file_var: cannot read ${!file_var}"
    IFS= read -r value <"${!file_var}" || true
    value=${value%$'\r'}
    [ -n "$value" ] || die "$file_var: ${!file_var} is empty"
  fi
  printf '%s' "$value"
}

# no_control NAME VALUE: refuse newlines and other control characters (they cannot be written
# into a TOML string or a one-line password file). The value itself is never shown.
no_control() {
  case "$2" in
    *[[:cntrl:]]*) die "$1 contains a control character (a newline?)" ;;
  esac
}

# Read only when the config or the password file is to be written (not for other commands).
api_password=

# The daemon's own rule (api.password: at least 12 characters), checked before anything is
# written.
check_api_password() {
  no_control QTUMLN_API_PASSWORD "$api_password"
  [ "${#api_password}" -ge 12 ] || die "QTUMLN_API_PASSWORD must have at least 12 characters"
}

write_password_file() {
  [ -n "$api_password" ] || return 0
  check_api_password
  partial=$(mktemp "$PASSWORD_FILE.XXXXXX" 2>/dev/null) ||
    die "cannot write in $CONFIG_DIR (running as uid $(id -u))"
  printf '%s\n' "$api_password" >"$partial"
  mv -f "$partial" "$PASSWORD_FILE"
  partial=
}

# toml_string VALUE: VALUE escaped for a TOML basic string ("...").
toml_string() {
  local v=$1
  v=${v//\\/\\\\}
  v=${v//\"/\\\"}
  printf '%s' "$v"
}

render() {
  [ -f "$QTUMLN_TEMPLATE" ] || die "template $QTUMLN_TEMPLATE not found (set QTUMLN_TEMPLATE)"

  local network rpc_url rpc_user rpc_password insecure zmq_block zmq_tx listen alias announce level
  network=${QTUM_NETWORK:-}
  rpc_url=${QTUM_RPC_URL:-}
  rpc_user=${QTUM_RPC_USER:-}
  rpc_password=$(secret QTUM_RPC_PASSWORD)
  insecure=${QTUM_ALLOW_INSECURE_HTTP:-false}
  zmq_block=${QTUM_ZMQ_BLOCK:-}
  zmq_tx=${QTUM_ZMQ_TX:-}
  listen=${QTUMLN_API_LISTEN:-127.0.0.1:8080}
  alias=${QTUMLN_ALIAS:-}
  announce=${QTUMLN_ANNOUNCE:-}
  level=${QTUMLN_LOG_LEVEL:-info}

  # Checked here, before anything is written; the daemon checks the file again, fully.
  [ -n "$api_password" ] || die "QTUMLN_API_PASSWORD is not set: refusing to create a node" \
    "whose API has no password (at least 12 characters; see docker/env.example)"
  check_api_password
  case "$network" in
    mainnet|testnet|regtest) ;;
    '') die "QTUM_NETWORK is not set (mainnet, testnet or regtest)" ;;
    *) die "QTUM_NETWORK must be mainnet, testnet or regtest" ;;
  esac
  [ -n "$rpc_url" ] || die "QTUM_RPC_URL is not set (qtumd's JSON-RPC, e.g. http://qtumd:3889)"
  case "$rpc_url" in
    http://*|https://*) ;;
    *) die "QTUM_RPC_URL must start with http:// or https://" ;;
  esac
  local authority=${rpc_url#*://}
  authority=${authority%%/*}
  case "$authority" in
    *@*) die "QTUM_RPC_URL must not carry credentials: use QTUM_RPC_USER and QTUM_RPC_PASSWORD" ;;
  esac
  if [ -n "$rpc_user" ] && [ -z "$rpc_password" ]; then
    die "QTUM_RPC_USER is set without QTUM_RPC_PASSWORD"
  fi
  if [ -z "$rpc_user" ] && [ -n "$rpc_password" ]; then
    die "QTUM_RPC_PASSWORD is set without QTUM_RPC_USER"
  fi
  case "$insecure" in
    true|false) ;;
    *) die "QTUM_ALLOW_INSECURE_HTTP must be true or false" ;;
  esac
  local z
  for z in QTUM_ZMQ_BLOCK QTUM_ZMQ_TX; do
    if [ -n "${!z:-}" ] && ! [[ ${!z} =~ ^tcp://[^/[:space:]]+:[0-9]{1,5}$ ]]; then
      die "$z must be tcp://host:port"
    fi
  done
  [[ $listen =~ ^(\[[0-9a-fA-F:.]+\]|[0-9.]+):[0-9]{1,5}$ ]] ||
    die "QTUMLN_API_LISTEN must be IP:port, e.g. 0.0.0.0:8080"
  if [ -n "$announce" ] && ! [[ $announce =~ ^(\[[0-9a-fA-F:.]+\]|[0-9.]+):[0-9]{1,5}$ ]]; then
    die "QTUMLN_ANNOUNCE must be a public IP:port (no host name), e.g. 203.0.113.9:9735"
  fi
  local bytes
  bytes=$(LC_ALL=C; printf '%s' "${#alias}")
  [ "$bytes" -le 32 ] || die "QTUMLN_ALIAS is longer than 32 bytes"
  case "$level" in
    error|warn|info|debug|trace) ;;
    *) die "QTUMLN_LOG_LEVEL must be error, warn, info, debug or trace" ;;
  esac

  declare -A values=(
    [QTUM_NETWORK]=$network [DATA_DIR]=$DATA_DIR
    [QTUM_RPC_URL]=$rpc_url [QTUM_RPC_USER]=$rpc_user [QTUM_RPC_PASSWORD]=$rpc_password
    [QTUM_ALLOW_INSECURE_HTTP]=$insecure
    [QTUM_ZMQ_BLOCK]=$zmq_block [QTUM_ZMQ_TX]=$zmq_tx
    [QTUMLN_API_LISTEN]=$listen [QTUMLN_ALIAS]=$alias [QTUMLN_ANNOUNCE]=$announce
    [QTUMLN_LOG_LEVEL]=$level
  )
  local name
  for name in "${!values[@]}"; do
    no_control "$name" "${values[$name]}"
  done

  mkdir -p "$CONFIG_DIR" "$DATA_DIR" 2>/dev/null ||
    die "cannot create $CONFIG_DIR or $DATA_DIR (running as uid $(id -u))"
  partial=$(mktemp "$CONFIG.XXXXXX" 2>/dev/null) ||
    die "cannot write in $CONFIG_DIR (running as uid $(id -u); a bind mount must be writable by it)"

  # Placeholders are replaced left to right in lines that are not comments; a value is never
  # scanned again, so a password containing @SOMETHING@ stays as it is.
  local line rest out match value empty
  while IFS= read -r line || [ -n "$line" ]; do
    if [[ $line =~ ^[[:space:]]*# ]]; then
      printf '%s\n' "$line"
      continue
    fi
    rest=$line out='' empty=0
    while [[ $rest =~ @([A-Z_]+)@ ]]; do
      match=${BASH_REMATCH[0]}
      name=${BASH_REMATCH[1]}
      [ -n "${values[$name]+set}" ] || die "template: unknown placeholder $match"
      value=${values[$name]}
      [ -n "$value" ] || empty=1
      out+=${rest%%"$match"*}$(toml_string "$value")
      rest=${rest#*"$match"}
    done
    out+=$rest
    if [ "$empty" = 1 ]; then
      printf '# %s\n' "$out"
    else
      printf '%s\n' "$out"
    fi
  done <"$QTUMLN_TEMPLATE" >"$partial"
  mv -f "$partial" "$CONFIG"
  partial=

  echo "entrypoint: wrote $CONFIG for $network from $QTUMLN_TEMPLATE; edit it for anything" \
    "the variables do not cover (it is not rendered again)"
  echo "entrypoint: on its first start qtum-lnd writes the wallet's mnemonic to" \
    "$DATA_DIR/mnemonic: back it up"
}

case "${1:-}" in
  --render-only)
    [ $# -eq 1 ] || die "--render-only takes no other argument"
    api_password=$(secret QTUMLN_API_PASSWORD)
    if [ -f "$CONFIG" ]; then
      echo "entrypoint: $CONFIG exists; not rendered again"
    else
      render
    fi
    write_password_file
    ;;
  ''|-*)
    api_password=$(secret QTUMLN_API_PASSWORD)
    if [ ! -f "$CONFIG" ]; then
      render
    fi
    write_password_file
    exec qtum-lnd --config "$CONFIG" "$@"
    ;;
  *)
    exec "$@"
    ;;
esac
