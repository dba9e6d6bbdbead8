#!/usr/bin/env bash
# Wire a stock Asterisk configuration directory to Switchboard. Safe to run again: a second run
# with the same options changes no byte. See README.md next to this script.
set -euo pipefail

MARK_BEGIN='; >>> switchboard AMI user: managed by switchboard deploy/asterisk/install.sh, edits here are overwritten'
MARK_END='; <<< switchboard AMI user'
SIP_BEGIN='; >>> switchboard SIP transports: managed by switchboard deploy/asterisk/install.sh, edits here are overwritten'
SIP_END='; <<< switchboard SIP transports'
SIP_PREFIX='switchboard-transport-'
HTTP_BEGIN='; >>> switchboard WebSocket server: managed by switchboard deploy/asterisk/install.sh, edits here are overwritten'
HTTP_END='; <<< switchboard WebSocket server'
# The webphone's TLS certificate and key, inside CONFDIR (given ones are copied here).
WSS_CERT='keys/switchboard-wss.crt'
WSS_KEY='keys/switchboard-wss.key'
INCLUDED=(pjsip.conf extensions.conf queues.conf)
AMI_READ='system,call,agent,cdr,user'
AMI_WRITE='system,command,originate,agent,reporting,message'

usage() {
  cat <<'EOF'
usage: install.sh CONFDIR --ami-user USER (--ami-secret SECRET | --ami-secret-file FILE)
                  [--ami-bind 127.0.0.1] [--ami-port 5038] [--ami-permit ADDR/MASK]...
                  [--sip-bind ADDR:PORT]
                  [--wss ADDR:PORT [--tls-cert FILE --tls-key FILE] [--asterisk-etc DIR]]

  CONFDIR            the Asterisk configuration directory, usually /etc/asterisk
  --ami-user         manager user Switchboard logs in as ([A-Za-z0-9_.-]+)
  --ami-secret       its secret (visible in the process list; prefer --ami-secret-file)
  --ami-secret-file  file whose first line is the secret ("-" reads standard input)
  --ami-bind         address AMI listens on (default 127.0.0.1)
  --ami-port         port AMI listens on (default 5038)
  --ami-permit       network allowed to log in as USER, repeatable
                     (default 127.0.0.1/255.255.255.255)
  --sip-bind         address and port phones register to: pjsip UDP and TCP transports
                     (IPV4:PORT or [IPV6]:PORT). Without it, pjsip.conf must already
                     define a transport of the host's own (or one from an earlier run).
  --wss              address and port browsers' webphones connect to (wss://ADDR:PORT/ws):
                     Asterisk's HTTPS server with WebSockets (http.conf) and a pjsip
                     transport-wss. Give --sip-bind again on the same run when you use it.
  --tls-cert, --tls-key
                     PEM certificate (chain) and private key for --wss, copied into
                     CONFDIR/keys/. Without them a self-signed certificate is generated
                     once with openssl (browsers must be told to trust it: test and demo only).
  --asterisk-etc     CONFDIR as Asterisk itself sees it, for the certificate paths in
                     http.conf (default CONFDIR; differs when Asterisk runs in a chroot).
EOF
}

die() {
  echo "install.sh: $*" >&2
  exit 2
}

valid_bind() {
  # IPV4:PORT or [IPV6]:PORT and nothing else: the value lands in pjsip.conf as it is.
  local octet='(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])' port
  if [[ "$1" =~ ^$octet(\.$octet){3}:([0-9]{1,5})$ ]]; then
    port=${BASH_REMATCH[${#BASH_REMATCH[@]} - 1]}
  elif [[ "$1" =~ ^\[[0-9A-Fa-f]*:[0-9A-Fa-f:.]*\]:([0-9]{1,5})$ ]]; then
    port=${BASH_REMATCH[1]}
  else
    return 1
  fi
  [[ "$port" != 0* ]] && [ "$port" -le 65535 ]
}

confdir=""
ami_user=""
ami_secret=""
ami_secret_set=0
ami_bind="127.0.0.1"
ami_port="5038"
ami_permits=()
sip_bind=""
sip_bind_set=0
wss_bind=""
tls_cert=""
tls_key=""
asterisk_etc=""
# Each transport Switchboard manages: "PROTOCOL BIND". --sip-bind adds udp and tcp; a later
# option (TLS, WSS for the webphone) adds its own protocol and a section writer below.
transports=()

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
    --sip-bind)
      [ "$sip_bind_set" = 0 ] || die "--sip-bind can be given once"
      sip_bind=${2-}
      sip_bind_set=1
      shift 2 || die "--sip-bind needs a value"
      ;;
    --wss)
      [ -z "$wss_bind" ] || die "--wss can be given once"
      wss_bind=${2-}
      shift 2 || die "--wss needs a value"
      ;;
    --tls-cert) tls_cert=${2-}; shift 2 || die "--tls-cert needs a value" ;;
    --tls-key) tls_key=${2-}; shift 2 || die "--tls-key needs a value" ;;
    --asterisk-etc) asterisk_etc=${2-}; shift 2 || die "--asterisk-etc needs a value" ;;
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
if [ "$sip_bind_set" = 1 ]; then
  valid_bind "$sip_bind" \
    || die "--sip-bind must be IPV4:PORT or [IPV6]:PORT with a port 1-65535, got $(printf '%q' "$sip_bind")"
  transports+=("udp $sip_bind" "tcp $sip_bind")
fi
if [ -n "$wss_bind" ]; then
  valid_bind "$wss_bind" \
    || die "--wss must be IPV4:PORT or [IPV6]:PORT with a port 1-65535, got $(printf '%q' "$wss_bind")"
  { [ -z "$tls_cert" ] && [ -z "$tls_key" ]; } || { [ -n "$tls_cert" ] && [ -n "$tls_key" ]; } \
    || die "--tls-cert and --tls-key go together"
  [ -z "$tls_cert" ] || [ -r "$tls_cert" ] || die "cannot read --tls-cert $tls_cert"
  [ -z "$tls_key" ] || [ -r "$tls_key" ] || die "cannot read --tls-key $tls_key"
  [ -n "$tls_cert" ] || command -v openssl >/dev/null \
    || die "--wss without --tls-cert needs openssl to generate a self-signed certificate"
  asterisk_etc=${asterisk_etc:-$confdir}
  asterisk_etc=${asterisk_etc%/}
  [[ "$asterisk_etc" =~ ^/[A-Za-z0-9_./-]*$ ]] || die "--asterisk-etc must be an absolute path of [A-Za-z0-9_./-]"
  transports+=("wss $wss_bind")
else
  [ -z "$tls_cert$tls_key$asterisk_etc" ] || die "--tls-cert, --tls-key and --asterisk-etc go with --wss"
fi

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

# --- pjsip.conf transports: the host's own are read, never touched; Switchboard's sit in a block.
pjsip_text() {
  # A pjsip configuration file with its #include/#tryinclude files in place (globs expanded,
  # relative to CONFDIR), minus Switchboard's live include, which never defines a transport.
  local file=$1 depth=$2 line target path
  [ "$depth" -le 8 ] || die "pjsip.conf: #include nested deeper than 8 levels at $file"
  while IFS= read -r line || [ -n "$line" ]; do
    if [[ "$line" =~ ^[[:space:]]*#(try)?include[[:space:]]+\"?([^\"]*[^\"[:space:]])\"?[[:space:]]*$ ]]; then
      target=${BASH_REMATCH[2]}
      [[ "$target" == /* ]] || target="$confdir/$target"
      [[ "$target" != "$confdir/switchboard/"* ]] || continue
      while IFS= read -r path; do
        [ ! -f "$path" ] || pjsip_text "$path" $((depth + 1))
      done < <(compgen -G "$target" || true)
    else
      printf '%s\n' "$line"
    fi
  done <"$file"
}

pjsip_inventory() {
  # "T NAME PROTOCOL BIND" for each transport object the host defines (templates resolved,
  # Switchboard's block left out) and "N NAME" for each section named like Switchboard's own.
  [ -f "$confdir/pjsip.conf" ] || return 0
  pjsip_text "$confdir/pjsip.conf" 0 | SB_BEGIN=$SIP_BEGIN SB_END=$SIP_END SB_PREFIX=$SIP_PREFIX awk '
    function trim(text) { sub(/^[ \t]+/, "", text); sub(/[ \t\r]+$/, "", text); return text }
    function value(i, key, depth,   parents, n, k, j, found, inherited) {
      if ((i, key) in vals) return vals[i, key]
      if (depth > 16) return ""
      found = ""
      n = split(inherit[i], parents, ",")
      for (k = 1; k <= n; k++) {
        j = byname[parents[k]]
        if (j) { inherited = value(j, key, depth + 1); if (inherited != "") found = inherited }
      }
      return found
    }
    $0 == ENVIRON["SB_BEGIN"] { managed = 1; next }
    managed { if ($0 == ENVIRON["SB_END"]) managed = 0; next }
    {
      line = $0
      if (in_comment) {
        if (!(p = index(line, "--;"))) next
        line = substr(line, p + 3)
        in_comment = 0
      }
      while ((p = index(line, ";--"))) {
        rest = substr(line, p + 3)
        if ((q = index(rest, "--;"))) line = substr(line, 1, p - 1) substr(rest, q + 3)
        else { line = substr(line, 1, p - 1); in_comment = 1; break }
      }
      gsub(/\\;/, "\001", line)
      sub(/;.*/, "", line)
      gsub(/\001/, ";", line)
      line = trim(line)
      if (line == "") next
      if (line ~ /^\[[^]]*\]/) {
        name = substr(line, 2, index(line, "]") - 2)
        options = trim(substr(line, index(line, "]") + 1))
        options = options ~ /^\(.*\)$/ ? substr(options, 2, length(options) - 2) : ""
        if (options == "+" && (name in byname)) { current = byname[name]; next }
        current = ++count
        names[current] = name
        byname[name] = current
        n = split(options, parts, ",")
        for (k = 1; k <= n; k++) {
          part = trim(parts[k])
          if (part == "!") template[current] = 1
          else if (part != "" && part != "+") inherit[current] = inherit[current] (inherit[current] == "" ? "" : ",") part
        }
        next
      }
      if (!current || !(eq = index(line, "="))) next
      key = tolower(trim(substr(line, 1, eq - 1)))
      val = trim(substr(line, eq + 1))
      sub(/^>[ \t]*/, "", val)
      vals[current, key] = val
    }
    END {
      for (i = 1; i <= count; i++) {
        if (template[i]) continue
        if (index(names[i], ENVIRON["SB_PREFIX"]) == 1) print "N", names[i]
        if (tolower(value(i, "type", 0)) != "transport") continue
        protocol = tolower(value(i, "protocol", 0))
        bind = value(i, "bind", 0)
        print "T", names[i], (protocol == "" ? "udp" : protocol), (bind == "" ? "0.0.0.0" : bind)
      }
    }'
}

socket_of() {
  # "udp|tcp ADDRESS PORT" that PROTOCOL BIND listens on; nothing for ws/wss (the HTTP server's).
  local protocol=$1 bind=$2 kind address port
  case "$protocol" in
    udp) kind=udp port=5060 ;;
    tcp) kind=tcp port=5060 ;;
    tls) kind=tcp port=5061 ;;
    *) return 0 ;;
  esac
  if [[ "$bind" =~ ^\[([^]]*)\](:([0-9]+))?$ ]]; then
    address=${BASH_REMATCH[1]} port=${BASH_REMATCH[3]:-$port}
  elif [[ "$bind" =~ ^([^:]*):([0-9]+)$ ]]; then
    address=${BASH_REMATCH[1]} port=${BASH_REMATCH[2]}
  else
    address=$bind
  fi
  case "$address" in "" | 0.0.0.0 | :: | 0:0:0:0:0:0:0:0) address="*" ;; esac
  echo "$kind $address $port"
}

host_transports=()
transports_moved=0
plan_transports() {
  # Refuses before anything is written: a section named like ours, a socket ours would share,
  # or no transport at all.
  local inventory kind tag name protocol bind entry theirs
  inventory=$(pjsip_inventory) || exit 2
  while read -r kind tag protocol bind; do
    case "$kind" in
      N) die "pjsip.conf defines [$tag] outside the Switchboard block; rename or remove it" ;;
      T) host_transports+=("$tag $protocol $bind") ;;
    esac
  done <<<"$inventory"
  if [ ${#transports[@]} -eq 0 ]; then
    [ ${#host_transports[@]} -gt 0 ] || grep -Fqx -- "$SIP_BEGIN" "$confdir/pjsip.conf" 2>/dev/null \
      || die "pjsip.conf defines no SIP transport, so no phone could register: name the address" \
        "phones reach with --sip-bind ADDR:PORT (pjsip UDP and TCP transports, e.g." \
        "--sip-bind 0.0.0.0:5060), or define a transport of your own in pjsip.conf first"
    return 0
  fi
  local our_kind our_address our_port their_kind their_address their_port
  for entry in "${transports[@]}"; do
    read -r our_kind our_address our_port <<<"$(socket_of "${entry%% *}" "${entry#* }")"
    [ -n "$our_kind" ] || continue
    for theirs in "${host_transports[@]}"; do
      read -r name protocol bind <<<"$theirs"
      read -r their_kind their_address their_port <<<"$(socket_of "$protocol" "$bind")"
      [ "$their_kind" = "$our_kind" ] || continue
      [ "$their_port" = "$our_port" ] || continue
      [ "$their_address" = "$our_address" ] || [ "$their_address" = "*" ] || [ "$our_address" = "*" ] \
        || continue
      die "pjsip.conf already has the transport [$name] ($protocol $bind): --sip-bind $sip_bind" \
        "would listen on the same $our_kind port. Leave --sip-bind out to keep the host's" \
        "transports, or name another address or port"
    done
  done
}

transport_section() {
  # One managed transport; TLS (certificates) and WSS (the webphone) will get their own case.
  local protocol=$1 bind=$2
  case "$protocol" in
    udp | tcp) printf '[%s%s]\ntype = transport\nprotocol = %s\nbind = %s\n' "$SIP_PREFIX" "$protocol" "$protocol" "$bind" ;;
    # WebSocket transports ride on the HTTP server (http.conf); pjsip ignores their bind.
    wss) printf '[%swss]\ntype = transport\nprotocol = wss\nbind = 0.0.0.0\n' "$SIP_PREFIX" ;;
    *) die "no transport writer for $protocol" ;;
  esac
}

configure_transports() {
  # Switchboard's block, rewritten where it stands (or appended once), only when transports are named.
  local conf="$confdir/pjsip.conf" new block entry first=1
  [ ${#transports[@]} -gt 0 ] || return 0
  block=$(
    printf '%s\n' "$SIP_BEGIN"
    for entry in "${transports[@]}"; do
      [ "$first" = 1 ] || echo
      first=0
      transport_section "${entry%% *}" "${entry#* }"
    done
    printf '%s\n' "$SIP_END"
  )
  new=$(mktemp "$confdir/.pjsip.conf.XXXXXX")
  { [ ! -f "$conf" ] || cat "$conf"; } | SB_BEGIN=$SIP_BEGIN SB_END=$SIP_END SB_BLOCK=$block awk '
    $0 == ENVIRON["SB_BEGIN"] { print ENVIRON["SB_BLOCK"]; skipping = 1; written = 1; next }
    skipping { if ($0 == ENVIRON["SB_END"]) skipping = 0; next }
    { print }
    END {
      if (written) exit
      if (NR) print ""
      print ENVIRON["SB_BLOCK"]
    }' >"$new"
  local before=${#changes[@]} existed=0
  ! grep -Fqx -- "$SIP_BEGIN" "$conf" 2>/dev/null || existed=1
  install_if_changed "$new" "$conf" 0640
  [ ${#changes[@]} -eq "$before" ] || transports_moved=$existed
}

transports_label() {
  local entry names=()
  if [ "$sip_bind_set" = 1 ]; then
    echo "pjsip.conf transports (udp and tcp on $sip_bind${wss_bind:+, wss})"
  elif [ ${#host_transports[@]} -gt 0 ]; then
    for entry in "${host_transports[@]}"; do names+=("${entry%% *}"); done
    echo "pjsip.conf transports (the host's own: ${names[*]})"
  else
    echo "pjsip.conf transports (Switchboard's, kept from an earlier run)"
  fi
}

# --- keys/: the webphone's certificate, copied from --tls-cert/--tls-key or generated once.
configure_certificate() {
  local dir="$confdir/keys" owner new
  owner=$(stat -c '%u:%g' "$confdir")
  if [ ! -d "$dir" ]; then
    mkdir -m 0750 "$dir"
    chown "$owner" "$dir"
    changes+=("$dir")
  fi
  if [ -n "$tls_cert" ]; then
    new=$(mktemp "$dir/.crt.XXXXXX")
    cat "$tls_cert" >"$new"
    install_if_changed "$new" "$confdir/$WSS_CERT" 0640
    new=$(mktemp "$dir/.key.XXXXXX")
    cat "$tls_key" >"$new"
    install_if_changed "$new" "$confdir/$WSS_KEY" 0640
  elif [ ! -s "$confdir/$WSS_CERT" ] || [ ! -s "$confdir/$WSS_KEY" ]; then
    local host=${wss_bind%:*}
    host=${host#[}
    host=${host%]}
    local san="DNS:localhost,IP:127.0.0.1"
    case "$host" in 0.0.0.0 | :: | 127.0.0.1) ;; *:*) san="$san,IP:$host" ;; *) san="$san,IP:$host" ;; esac
    openssl req -x509 -newkey rsa:2048 -nodes -days 825 -subj "/CN=Switchboard webphone (self-signed)" \
      -addext "subjectAltName=$san" -keyout "$confdir/$WSS_KEY" -out "$confdir/$WSS_CERT" 2>/dev/null \
      || die "openssl could not generate the self-signed certificate"
    chown "$owner" "$confdir/$WSS_CERT" "$confdir/$WSS_KEY"
    chmod 0640 "$confdir/$WSS_CERT" "$confdir/$WSS_KEY"
    changes+=("$confdir/$WSS_CERT")
  fi
}

# --- http.conf: the HTTPS server carrying the WebSocket transport, in a managed block.
configure_http() {
  local conf="$confdir/http.conf" new
  new=$(mktemp "$confdir/.http.conf.XXXXXX")
  { [ ! -f "$conf" ] || cat "$conf"; } | SB_BEGIN=$HTTP_BEGIN SB_END=$HTTP_END awk '
    # The host file without our block and without a [general] of its own: ours replaces it.
    $0 == ENVIRON["SB_BEGIN"] { skipping = 1; next }
    skipping { if ($0 == ENVIRON["SB_END"]) skipping = 0; next }
    /^[[:space:]]*\[[^]]*\]/ { section = $0; sub(/^[[:space:]]*\[/, "", section); sub(/\].*/, "", section) }
    section == "general" { next }
    { lines[++n] = $0 }
    END {
      while (n > 0 && lines[n] == "") n--
      for (i = 1; i <= n; i++) print lines[i]
      if (n) print ""
    }' >"$new"
  {
    printf '%s\n[general]\nenabled = yes\n' "$HTTP_BEGIN"
    # No bindaddr: no plain HTTP listener, only TLS.
    printf 'tlsenable = yes\ntlsbindaddr = %s\n' "$wss_bind"
    printf 'tlscertfile = %s/%s\ntlsprivatekey = %s/%s\n' "$asterisk_etc" "$WSS_CERT" "$asterisk_etc" "$WSS_KEY"
    printf '%s\n' "$HTTP_END"
  } >>"$new"
  install_if_changed "$new" "$conf" 0640
}

step() {
  local label=$1 before=${#changes[@]}
  shift
  "$@"
  if [ ${#changes[@]} -gt "$before" ]; then echo "$label: changed"; else echo "$label: unchanged"; fi
}

plan_transports
step "manager.conf (AMI on $ami_bind:$ami_port, user $ami_user)" configure_manager
step "$(transports_label)" configure_transports
for file in "${INCLUDED[@]}"; do
  step "$file include" configure_include "$file"
done
step "switchboard/ layout" configure_layout
if [ -n "$wss_bind" ]; then
  step "keys/ (webphone certificate)" configure_certificate
  step "http.conf (WebSocket server on $wss_bind)" configure_http
fi
if [ "$transports_moved" = 1 ]; then
  echo "restart Asterisk: pjsip moves an existing transport to its new address only at start"
fi
