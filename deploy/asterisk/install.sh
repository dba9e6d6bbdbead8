#!/usr/bin/env bash
# Wire a stock Asterisk configuration directory to Switchboard. Safe to run again: a second run
# with the same options changes no byte. See README.md next to this script.
set -euo pipefail

MARK_BEGIN='; >>> switchboard AMI user: managed by switchboard deploy/asterisk/install.sh, edits here are overwritten'
MARK_END='; <<< switchboard AMI user'
INCLUDED=(pjsip.conf extensions.conf queues.conf)
AMI_READ='system,call,agent,cdr,user'
AMI_WRITE='system,command,originate,agent,reporting,message'

usage() {
  cat <<'EOF'
usage: install.sh CONFDIR --ami-user USER (--ami-secret SECRET | --ami-secret-file FILE)
                  [--ami-bind 127.0.0.1] [--ami-port 5038] [--ami-permit ADDR/MASK]...

  CONFDIR            the Asterisk configuration directory, usually /etc/asterisk
  --ami-user         manager user Switchboard logs in as ([A-Za-z0-9_.-]+)
  --ami-secret       its secret (visible in the process list; prefer --ami-secret-file)
  --ami-secret-file  file whose first line is the secret ("-" reads standard input)
  --ami-bind         address AMI listens on (default 127.0.0.1)
  --ami-port         port AMI listens on (default 5038)
  --ami-permit       network allowed to log in as USER, repeatable
                     (default 127.0.0.1/255.255.255.255)
EOF
}

die() {
  echo "install.sh: $*" >&2
  exit 2
}

confdir=""
ami_user=""
ami_secret=""
ami_secret_set=0
ami_bind="127.0.0.1"
ami_port="5038"
ami_permits=()

while [ $# -gt 0 ]; do
  case "$1" in
    --ami-user) ami_user=${2-}; shift 2 || die "--ami-user needs a value" ;;
    --ami-secret) ami_secret=${2-}; ami_secret_set=1; shift 2 || die "--ami-secret needs a value" ;;
    --ami-secret-file)
      [ $# -ge 2 ] || die "--ami-secret-file needs a value"
      if [ "$2" = "-" ]; then
        IFS= read -r ami_secret || true
      else
        [ -r "$2" ] || die "cannot read secret file $2"
        IFS= read -r ami_secret <"$2" || true
      fi
      ami_secret_set=1
      shift 2
      ;;
    --ami-bind) ami_bind=${2-}; shift 2 || die "--ami-bind needs a value" ;;
    --ami-port) ami_port=${2-}; shift 2 || die "--ami-port needs a value" ;;
    --ami-permit) ami_permits+=("${2-}"); shift 2 || die "--ami-permit needs a value" ;;
    -h | --help) usage; exit 0 ;;
    -*) usage >&2; die "unknown option $1" ;;
    *)
      [ -z "$confdir" ] || die "only one CONFDIR, got '$confdir' and '$1'"
      confdir=$1
      shift
      ;;
  esac
done

[ -n "$confdir" ] || { usage >&2; die "CONFDIR is required"; }
[ -d "$confdir" ] || die "$confdir is not a directory"
[[ "$ami_user" =~ ^[A-Za-z0-9_.-]+$ ]] || die "--ami-user must match [A-Za-z0-9_.-]+"
[ "$ami_user" != "general" ] || die "--ami-user cannot be 'general'"
[ "$ami_secret_set" = 1 ] || die "--ami-secret or --ami-secret-file is required"
# The secret lands in a .conf value: no line breaks, no comment character, no edge blanks.
[ "${#ami_secret}" -ge 8 ] || die "the AMI secret must have at least 8 characters"
[[ "$ami_secret" =~ ^[[:graph:]]([[:print:]]*[[:graph:]])?$ ]] \
  || die "the AMI secret must be printable, without leading or trailing blanks"
[[ "$ami_secret" != *";"* ]] || die "the AMI secret cannot contain ';'"
[[ "$ami_bind" =~ ^[0-9A-Fa-f.:]+$ ]] || die "--ami-bind must be an IP address"
[[ "$ami_port" =~ ^[0-9]{1,5}$ ]] && [ "$ami_port" -ge 1 ] && [ "$ami_port" -le 65535 ] \
  || die "--ami-port must be 1-65535"
[ ${#ami_permits[@]} -gt 0 ] || ami_permits=("127.0.0.1/255.255.255.255")
for permit in "${ami_permits[@]}"; do
  [[ "$permit" =~ ^[0-9A-Fa-f.:]+(/[0-9A-Fa-f.:]+)?$ ]] || die "--ami-permit must be ADDR[/MASK]"
done

umask 077
changes=()

# Replace TARGET by NEW only when the bytes differ, keeping TARGET's owner and mode.
install_if_changed() {
  local new=$1 target=$2 mode=$3
  if [ -f "$target" ] && cmp -s "$new" "$target"; then
    rm -f "$new"
    return 0
  fi
  if [ -e "$target" ]; then
    chown --reference="$target" "$new"
    chmod --reference="$target" "$new"
  else
    chown --reference="$confdir" "$new"
    chmod "$mode" "$new"
  fi
  mv -f "$new" "$target"
  changes+=("$target")
}

# --- manager.conf: [general] enabled/bindaddr/port/timestampevents, then the managed user block.
manager_body() {
  # The file without our block; its first [general] carries our four keys right after the header.
  local source=$1
  {
    grep -Eq '^[[:space:]]*\[general\]' "$source" || printf '[general]\n'
    cat "$source"
  } | SB_BEGIN=$MARK_BEGIN SB_END=$MARK_END SB_USER=$ami_user SB_BIND=$ami_bind SB_PORT=$ami_port awk '
    BEGIN { section = ""; in_block = 0; general_done = 0; foreign_user = 0 }
    $0 == ENVIRON["SB_BEGIN"] { in_block = 1; next }
    in_block { if ($0 == ENVIRON["SB_END"]) in_block = 0; next }
    /^[[:space:]]*\[[^]]*\]/ {
      section = $0
      sub(/^[[:space:]]*\[/, "", section)
      sub(/\].*/, "", section)
      if (section == ENVIRON["SB_USER"]) foreign_user = 1
      print
      if (section == "general" && !general_done) {
        general_done = 1
        print "enabled = yes"
        print "bindaddr = " ENVIRON["SB_BIND"]
        print "port = " ENVIRON["SB_PORT"]
        print "timestampevents = yes"
      }
      next
    }
    section == "general" && /^[[:space:]]*(enabled|bindaddr|port|timestampevents)[[:space:]]*=/ { next }
    { print }
    END { exit foreign_user ? 3 : 0 }
  '
}

configure_manager() {
  local conf="$confdir/manager.conf" source="$confdir/manager.conf" new body
  [ -f "$conf" ] || source=/dev/null
  # $(...) drops the trailing blank lines, so the block always follows exactly one.
  body=$(manager_body "$source") \
    || die "manager.conf defines [$ami_user] outside the Switchboard block; remove it or pick another --ami-user"
  new=$(mktemp "$confdir/.manager.conf.XXXXXX")
  {
    printf '%s\n\n%s\n[%s]\n' "$body" "$MARK_BEGIN" "$ami_user"
    printf 'secret = %s\n' "$ami_secret"
    printf 'deny = 0.0.0.0/0.0.0.0\n'
    printf 'permit = %s\n' "${ami_permits[@]}"
    printf 'read = %s\nwrite = %s\nwritetimeout = 5000\n%s\n' "$AMI_READ" "$AMI_WRITE" "$MARK_END"
  } >"$new"
  install_if_changed "$new" "$conf" 0640
  # The secret is in there: never leave it readable by everyone.
  if [ $(($(stat -c '%#a' "$conf") & 8#007)) -ne 0 ]; then
    chmod o-rwx "$conf"
    changes+=("$conf (mode)")
  fi
}

# --- pjsip.conf, extensions.conf, queues.conf: one #include of the live Switchboard file each.
configure_include() {
  local file=$1 conf="$confdir/$1" new
  local pattern="^[[:space:]]*#include[[:space:]]+\"?switchboard/live/${file//./\\.}\"?[[:space:]]*$"
  if [ -f "$conf" ] && grep -Eq "$pattern" "$conf"; then
    return 0
  fi
  new=$(mktemp "$confdir/.$file.XXXXXX")
  if [ -s "$conf" ]; then
    cat "$conf" >"$new"
    [ -z "$(tail -c 1 "$conf")" ] || echo >>"$new"
    echo >>"$new"
  fi
  printf '; Switchboard renders this file; see deploy/asterisk/README.md\n' >>"$new"
  printf '#include switchboard/live/%s\n' "$file" >>"$new"
  install_if_changed "$new" "$conf" 0640
}

# --- switchboard/versions/0 with comment-only files and live -> versions/0 on a fresh install.
configure_layout() {
  local base="$confdir/switchboard" owner path
  owner=$(stat -c '%u:%g' "$confdir")
  for path in "$base" "$base/versions" "$base/versions/0"; do
    if [ ! -d "$path" ]; then
      mkdir -m 0750 "$path"
      chown "$owner" "$path"
      changes+=("$path")
    fi
  done
  for file in "${INCLUDED[@]}"; do
    path="$base/versions/0/$file"
    if [ ! -e "$path" ]; then
      printf '; Switchboard: empty until the first deploy makes another version live.\n' >"$path"
      chmod 0640 "$path"
      chown "$owner" "$path"
      changes+=("$path")
    fi
  done
  if [ ! -L "$base/live" ]; then
    [ ! -e "$base/live" ] || die "$base/live exists but is not a symlink"
    ln -s versions/0 "$base/live"
    chown -h "$owner" "$base/live"
    changes+=("$base/live")
  fi
}

step() {
  local label=$1 before=${#changes[@]}
  shift
  "$@"
  if [ ${#changes[@]} -gt "$before" ]; then echo "$label: changed"; else echo "$label: unchanged"; fi
}

step "manager.conf (AMI on $ami_bind:$ami_port, user $ami_user)" configure_manager
for file in "${INCLUDED[@]}"; do
  step "$file include" configure_include "$file"
done
step "switchboard/ layout" configure_layout
