#!/usr/bin/env bash
# Wire a stock FreeSWITCH configuration directory to Switchboard. Safe to run again: a second
# run with the same options changes no byte. See README.md next to this script.
set -euo pipefail
shopt -u patsub_replacement 2>/dev/null || true

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
MARK_BEGIN='<!-- >>> switchboard: managed by deploy/freeswitch/install.sh, edits here are overwritten -->'
MARK_END='<!-- <<< switchboard -->'
OWNED='<!-- Switchboard:'
ROOT_DIR=switchboard/live
# The webphone's certificate and key in one PEM, where sofia's wss transport looks for it
# (tls-cert-dir/wss.pem), inside CONFDIR; FreeSWITCH reads it as $${conf_dir}/$WSS_DIR.
WSS_DIR=switchboard/tls

usage() {
  cat <<'EOF'
usage: install.sh CONFDIR (--esl-password PASSWORD | --esl-password-file FILE) --control-url URL
                  [--esl-listen 127.0.0.1] [--esl-port 8021] [--esl-allow CIDR]...
                  [--xml-curl-user USER (--xml-curl-password P | --xml-curl-password-file FILE)]
                  [--xml-curl-bindings "directory|dialplan"]
                  [--wss ADDR:PORT [--tls-cert FILE --tls-key FILE]]

  CONFDIR                 the FreeSWITCH configuration directory (conf_dir), e.g. /etc/freeswitch
  --esl-password[-file]   event socket password ("-" as file reads standard input)
  --control-url           Switchboard's base URL; mod_xml_curl asks <URL>/freeswitch/xml-curl
  --esl-listen            address the event socket binds (default 127.0.0.1; never 0.0.0.0 or ::)
  --esl-port              its port (default 8021)
  --esl-allow             network allowed to connect, repeatable (default 127.0.0.1/32)
  --xml-curl-user         HTTP basic auth user for mod_xml_curl (with a password); without it the
                          credentials are the placeholder SWITCHBOARD_XML_CURL_USER:SWITCHBOARD_XML_CURL_PASSWORD
  --xml-curl-bindings     sections mod_xml_curl asks for, '|'-separated (default directory|dialplan)
  --wss                   address and port browsers' webphones connect to (wss://ADDR:PORT): the
                          internal profile's wss-binding (IPV4:PORT or [IPV6]:PORT); the stock
                          ws-binding and wss-binding lines are turned off
  --tls-cert, --tls-key   PEM certificate (chain) and private key for --wss, joined into
                          CONFDIR/switchboard/tls/wss.pem. Without them a self-signed certificate is
                          generated once with openssl (browsers must be told to trust it: test and
                          demo only)
EOF
}

die() {
  echo "install.sh: $*" >&2
  exit 2
}

read_secret() {
  local source=$1 value=""
  if [ "$source" = "-" ]; then
    IFS= read -r value || true
  else
    [ -r "$source" ] || die "cannot read $source"
    IFS= read -r value <"$source" || true
  fi
  printf '%s' "$value"
}

confdir=""
esl_password=""
esl_password_set=0
control_url=""
esl_listen="127.0.0.1"
esl_port="8021"
esl_allow=()
curl_user=""
curl_password=""
curl_password_set=0
curl_bindings="directory|dialplan"
wss_bind=""
tls_cert=""
tls_key=""

valid_bind() {
  # IPV4:PORT or [IPV6]:PORT and nothing else: the value lands in the profile as it is.
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

while [ $# -gt 0 ]; do
  case "$1" in
    --esl-password) esl_password=${2-}; esl_password_set=1; shift 2 || die "--esl-password needs a value" ;;
    --esl-password-file)
      [ $# -ge 2 ] || die "--esl-password-file needs a value"
      esl_password=$(read_secret "$2"); esl_password_set=1; shift 2 ;;
    --control-url) control_url=${2-}; shift 2 || die "--control-url needs a value" ;;
    --esl-listen) esl_listen=${2-}; shift 2 || die "--esl-listen needs a value" ;;
    --esl-port) esl_port=${2-}; shift 2 || die "--esl-port needs a value" ;;
    --esl-allow) esl_allow+=("${2-}"); shift 2 || die "--esl-allow needs a value" ;;
    --xml-curl-user) curl_user=${2-}; shift 2 || die "--xml-curl-user needs a value" ;;
    --xml-curl-password) curl_password=${2-}; curl_password_set=1; shift 2 || die "--xml-curl-password needs a value" ;;
    --xml-curl-password-file)
      [ $# -ge 2 ] || die "--xml-curl-password-file needs a value"
      curl_password=$(read_secret "$2"); curl_password_set=1; shift 2 ;;
    --xml-curl-bindings) curl_bindings=${2-}; shift 2 || die "--xml-curl-bindings needs a value" ;;
    --wss)
      [ -z "$wss_bind" ] || die "--wss can be given once"
      wss_bind=${2-}
      shift 2 || die "--wss needs a value"
      ;;
    --tls-cert) tls_cert=${2-}; shift 2 || die "--tls-cert needs a value" ;;
    --tls-key) tls_key=${2-}; shift 2 || die "--tls-key needs a value" ;;
    -h | --help) usage; exit 0 ;;
    -*) usage >&2; die "unknown option $1" ;;
    *)
      [ -z "$confdir" ] || die "only one CONFDIR, got '$confdir' and '$1'"
      confdir=$1
      shift
      ;;
  esac
done

# Every value below lands in an XML attribute that FreeSWITCH's pre-processor scans first:
# no quotes, no markup, no '$' (it would expand $${...}), no blanks.
SAFE='^[A-Za-z0-9._~+/=:@%!*,-]+$'
[ -n "$confdir" ] || { usage >&2; die "CONFDIR is required"; }
[ "$confdir" = / ] || confdir=${confdir%/}
[ -d "$confdir" ] || die "$confdir is not a directory"
[ -f "$confdir/freeswitch.xml" ] || die "$confdir/freeswitch.xml not found: not a FreeSWITCH conf dir"
[ "$esl_password_set" = 1 ] || die "--esl-password or --esl-password-file is required"
[ "${#esl_password}" -ge 8 ] || die "the ESL password must have at least 8 characters"
[[ "$esl_password" =~ $SAFE ]] || die "the ESL password may only use letters, digits and . _ ~ + / = : @ % ! * , -"
[[ "$control_url" =~ ^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?(/[A-Za-z0-9._~/-]*)?$ ]] \
  || die "--control-url must be http(s)://host[:port][/path]"
[[ "$esl_listen" =~ ^[0-9A-Fa-f.:]+$ ]] || die "--esl-listen must be an IP address"
case "$esl_listen" in 0.0.0.0 | :: | "[::]") die "--esl-listen must be a private address, not a wildcard" ;; esac
[[ "$esl_port" =~ ^[0-9]{1,5}$ ]] && [ "$esl_port" -ge 1 ] && [ "$esl_port" -le 65535 ] \
  || die "--esl-port must be 1-65535"
[ ${#esl_allow[@]} -gt 0 ] || esl_allow=("127.0.0.1/32")
for cidr in "${esl_allow[@]}"; do
  [[ "$cidr" =~ ^[0-9A-Fa-f.:]+/[0-9]{1,3}$ ]] || die "--esl-allow must be ADDR/PREFIX, got '$cidr'"
done
[[ "$curl_bindings" =~ ^[a-z]+(\|[a-z]+)*$ ]] || die "--xml-curl-bindings must be section names joined by '|'"
if [ -n "$curl_user" ] || [ "$curl_password_set" = 1 ]; then
  [ -n "$curl_user" ] && [ "$curl_password_set" = 1 ] || die "--xml-curl-user and a password go together"
  [[ "$curl_user" =~ ^[A-Za-z0-9._-]+$ ]] || die "--xml-curl-user may only use letters, digits and . _ -"
  [[ "$curl_password" =~ $SAFE ]] || die "the xml_curl password may only use letters, digits and . _ ~ + / = : @ % ! * , -"
  curl_credentials="$curl_user:$curl_password"
else
  curl_credentials="SWITCHBOARD_XML_CURL_USER:SWITCHBOARD_XML_CURL_PASSWORD"
fi

if [ -n "$wss_bind" ]; then
  valid_bind "$wss_bind" \
    || die "--wss must be IPV4:PORT or [IPV6]:PORT with a port 1-65535, got $(printf '%q' "$wss_bind")"
  { [ -z "$tls_cert" ] && [ -z "$tls_key" ]; } || { [ -n "$tls_cert" ] && [ -n "$tls_key" ]; } \
    || die "--tls-cert and --tls-key go together"
  [ -z "$tls_cert" ] || [ -r "$tls_cert" ] || die "cannot read --tls-cert $tls_cert"
  [ -z "$tls_key" ] || [ -r "$tls_key" ] || die "cannot read --tls-key $tls_key"
  command -v openssl >/dev/null || die "--wss needs openssl (to check or generate the certificate)"
  if [ -n "$tls_cert" ]; then
    openssl x509 -noout -in "$tls_cert" 2>/dev/null || die "--tls-cert $tls_cert is not a PEM certificate"
    openssl pkey -noout -in "$tls_key" 2>/dev/null || die "--tls-key $tls_key is not a PEM private key"
  fi
else
  [ -z "$tls_cert$tls_key" ] || die "--tls-cert and --tls-key go with --wss"
fi

umask 027
changes=()
owner=$(stat -c '%u:%g' "$confdir")

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
    chown "$owner" "$new"
    chmod "$mode" "$new"
  fi
  mv -f "$new" "$target"
  changes+=("$target")
}

# Standard input becomes TARGET (mode for a new file).
write_file() {
  local target=$1 mode=$2 new
  mkdir -p "$(dirname "$target")"
  new=$(mktemp "$(dirname "$target")/.$(basename "$target").XXXXXX")
  cat >"$new"
  install_if_changed "$new" "$target" "$mode"
}

# Keep the stock file once, as FILE.switchboard-orig (not *.xml: FreeSWITCH does not load it).
backup_once() {
  local file=$1
  if [ -f "$file" ] && ! grep -qF "$OWNED" "$file" && [ ! -e "$file.switchboard-orig" ]; then
    cp -p "$file" "$file.switchboard-orig"
    changes+=("$file.switchboard-orig")
  fi
}

# FILE without our marked block, with BLOCK (may be empty) inserted after the first line matching
# the extended regex ANCHOR. Fails when the anchor is missing.
with_block() {
  local file=$1 anchor=$2 block=$3
  SB_BEGIN=$MARK_BEGIN SB_END=$MARK_END SB_ANCHOR=$anchor SB_BLOCK=$block awk '
    BEGIN { skipping = 0; placed = 0 }
    index($0, ENVIRON["SB_BEGIN"]) { skipping = 1; next }
    skipping { if (index($0, ENVIRON["SB_END"])) skipping = 0; next }
    {
      print
      if (!placed && $0 ~ ENVIRON["SB_ANCHOR"]) {
        placed = 1
        if (ENVIRON["SB_BLOCK"] != "") printf "%s\n", ENVIRON["SB_BLOCK"]
      }
    }
    END { exit placed ? 0 : 3 }
  ' "$file"
}

insert_block() {
  local file=$1 anchor=$2 block=$3 new
  [ -f "$file" ] || die "$file not found"
  new=$(mktemp "$(dirname "$file")/.$(basename "$file").XXXXXX")
  if ! with_block "$file" "$anchor" "$block" >"$new"; then
    rm -f "$new"
    die "$file has no line matching $anchor; cannot wire it"
  fi
  install_if_changed "$new" "$file" 0640
}

indent_block() {
  # $1: indentation; the rest: lines. Prints the marked block.
  local pad=$1
  shift
  printf '%s%s\n' "$pad" "$MARK_BEGIN"
  printf "$pad%s\n" "$@"
  printf '%s%s' "$pad" "$MARK_END"
}

# --- switchboard/versions/0 and live -> versions/0 on a fresh install --------------------------
configure_layout() {
  local base="$confdir/switchboard" path
  for path in "$base" "$base/versions" "$base/versions/0" "$base/versions/0/dialplan"; do
    if [ ! -d "$path" ]; then
      mkdir -m 0750 "$path"
      chown "$owner" "$path"
      changes+=("$path")
    fi
  done
  empty_include() {
    local target="$base/versions/0/$1"
    [ -e "$target" ] && return 0
    printf '<include>\n  <!-- Switchboard: empty until the first deploy makes another version live. -->\n</include>\n' >"$target"
    chmod 0640 "$target"
    chown "$owner" "$target"
    changes+=("$target")
  }
  for path in directory.xml dialplan/default.xml dialplan/public.xml gateway.xml; do
    empty_include "$path"
  done
  path="$base/versions/0/callcenter.conf.xml"
  if [ ! -e "$path" ]; then
    cat >"$path" <<'EOF'
<include>
  <!-- Switchboard: empty until the first deploy makes another version live. -->
  <configuration name="callcenter.conf" description="Switchboard call center">
    <settings>
    </settings>
    <queues>
    </queues>
    <agents>
    </agents>
    <tiers>
    </tiers>
  </configuration>
</include>
EOF
    chmod 0640 "$path"
    chown "$owner" "$path"
    changes+=("$path")
  fi
  if [ ! -L "$base/live" ]; then
    [ ! -e "$base/live" ] || die "$base/live exists but is not a symlink"
    ln -s versions/0 "$base/live"
    chown -h "$owner" "$base/live"
    changes+=("$base/live")
  fi
}

include_file() {
  # A whole file of ours that includes one file of the live version. FreeSWITCH resolves a
  # relative include against the directory of the file that holds it: $3 leads back to CONFDIR.
  printf '<include>\n  %s %s -->\n  <X-PRE-PROCESS cmd="include" data="%s%s/%s"/>\n</include>\n' \
    "$OWNED" "managed by deploy/freeswitch/install.sh; $2" "$3" "$ROOT_DIR" "$1"
}

configure_directory() {
  grep -q 'data="directory/\*\.xml"' "$confdir/freeswitch.xml" \
    || die "freeswitch.xml does not include directory/*.xml in its directory section"
  write_file "$confdir/directory/switchboard.xml" 0640 < <(include_file directory.xml "the tenant's domain and users" ../)
}

# The vanilla directory's demo users (1000-1019, brian, ...) all log in with the well-known
# $${default_password} (1234): a PBX wired to Switchboard must not keep them. Each file that uses it
# is moved aside as FILE.switchboard-orig (not loaded); users with passwords of their own stay.
disable_demo_users() {
  local file
  while IFS= read -r -d '' file; do
    if grep -qF '$${default_password}' "$file"; then
      mv "$file" "$file.switchboard-orig"
      changes+=("$file.switchboard-orig")
    fi
  done < <(find "$confdir/directory" -type f -name '*.xml' -print0 | sort -z)
}

configure_dialplan() {
  insert_block "$confdir/dialplan/default.xml" '<context[[:space:]]+name="default"' \
    "$(indent_block '    ' "<X-PRE-PROCESS cmd=\"include\" data=\"../$ROOT_DIR/dialplan/default.xml\"/>")"
  insert_block "$confdir/dialplan/public.xml" '<context[[:space:]]+name="public"' \
    "$(indent_block '    ' "<X-PRE-PROCESS cmd=\"include\" data=\"../$ROOT_DIR/dialplan/public.xml\"/>")"
}

configure_gateway() {
  local profile="$confdir/sip_profiles/external.xml"
  [ -f "$profile" ] || die "$profile not found"
  grep -q 'data="external/\*\.xml"' "$profile" || die "$profile does not include external/*.xml in <gateways>"
  write_file "$confdir/sip_profiles/external/switchboard.xml" 0640 < <(include_file gateway.xml "the tenant's trunk" ../../)
}

configure_callcenter() {
  local conf="$confdir/autoload_configs/callcenter.conf.xml"
  backup_once "$conf"
  write_file "$conf" 0640 < <(include_file callcenter.conf.xml "queues, agents and tiers" ../)
}

configure_event_socket() {
  local conf="$confdir/autoload_configs/event_socket.conf.xml" template
  backup_once "$conf"
  template=$(<"$HERE/event_socket.conf.xml")
  template=${template//@ESL_LISTEN@/$esl_listen}
  template=${template//@ESL_PORT@/$esl_port}
  template=${template//@ESL_PASSWORD@/$esl_password}
  write_file "$conf" 0640 <<<"$template"
  chmod o-rwx "$conf"
  local nodes=() cidr
  for cidr in "${esl_allow[@]}"; do
    nodes+=("  <node type=\"allow\" cidr=\"$cidr\"/>")
  done
  insert_block "$confdir/autoload_configs/acl.conf.xml" '<network-lists>' \
    "$(indent_block '    ' '<list name="switchboard-esl" default="deny">' "${nodes[@]}" '</list>')"
}

configure_xml_curl() {
  local conf="$confdir/autoload_configs/xml_curl.conf.xml" template
  backup_once "$conf"
  template=$(<"$HERE/xml_curl.conf.xml")
  template=${template//@XML_CURL_URL@/${control_url%/}/freeswitch/xml-curl}
  template=${template//@XML_CURL_BINDINGS@/$curl_bindings}
  template=${template//@XML_CURL_CREDENTIALS@/$curl_credentials}
  write_file "$conf" 0640 <<<"$template"
  chmod o-rwx "$conf"
}

uncommented() {
  # FILE's text outside XML comments and outside our marked block, line by line.
  SB_BEGIN=$MARK_BEGIN SB_END=$MARK_END awk '
    index($0, ENVIRON["SB_BEGIN"]) { ours = 1; next }
    ours { if (index($0, ENVIRON["SB_END"])) ours = 0; next }
    {
      line = $0; out = ""
      while (line != "") {
        if (comment) {
          at = index(line, "-->"); if (!at) { line = ""; break }
          line = substr(line, at + 3); comment = 0
        } else {
          at = index(line, "<!--"); if (!at) { out = out line; line = ""; break }
          out = out substr(line, 1, at - 1); line = substr(line, at + 4); comment = 1
        }
      }
      print out
    }
  ' "$1"
}

active_modules() {
  # Module names loaded outside comments and outside our block.
  uncommented "$1" | grep -Eo '<load[[:space:]]+module="[A-Za-z0-9_]+"' | sed 's/.*module="//; s/"$//' || true
}

# --- one SIP domain per tenant ----------------------------------------------------------------
# The vanilla internal profile forces every registration into $${domain} (force-register-domain,
# force-subscription-domain, force-register-db-domain): a user of a tenant's own SIP domain is
# challenged, then refused with 403 "Can't register a pointer". A multi-domain PBX (FusionPBX does
# the same) leaves them out: the From domain (challenge-realm auto_from) picks the directory domain.
FORCED_DOMAINS='force-register-domain|force-subscription-domain|force-register-db-domain'
FORCED_OFF='<!-- switchboard: off, each tenant registers in its own SIP domain (deploy/freeswitch/install.sh):'

params_off() {
  # PROFILE with each one-line, uncommented param named by the regex NAMES turned into a comment
  # of ours that starts with NOTE; our marked block is left as it is.
  local profile=$1 names=$2 note=$3
  SB_PARAM="^[[:space:]]*<param[[:space:]]+name=\"($names)\"[^<>]*/>[[:space:]]*$" SB_OFF=$note \
    SB_BEGIN=$MARK_BEGIN SB_END=$MARK_END awk '
    index($0, ENVIRON["SB_BEGIN"]) { ours = 1 }
    ours { print; if (index($0, ENVIRON["SB_END"])) ours = 0; next }
    {
      if (!comment && $0 ~ ENVIRON["SB_PARAM"]) {
        match($0, /^[[:space:]]*/); pad = substr($0, 1, RLENGTH); param = substr($0, RLENGTH + 1)
        sub(/[[:space:]]+$/, "", param)
        print pad ENVIRON["SB_OFF"] " " param " -->"
        next
      }
      print
      line = $0
      while (line != "") {
        at = index(line, comment ? "-->" : "<!--"); if (!at) break
        line = substr(line, at + (comment ? 3 : 4)); comment = !comment
      }
    }
  ' "$profile"
}

forced_domains_off() {
  params_off "$1" "$FORCED_DOMAINS" "$FORCED_OFF"
}

forced_domain_profiles() {
  # The SIP profiles (sip_profiles/*.xml) that set a forced domain, one per line.
  local profile text
  for profile in "$confdir"/sip_profiles/*.xml; do
    [ -f "$profile" ] || continue
    # grep reads a variable, not a pipe: under pipefail an early grep -q exit would fail the writer.
    text=$(uncommented "$profile")
    ! grep -Eq "name=\"($FORCED_DOMAINS)\"" <<<"$text" || echo "$profile"
  done
  return 0
}

configure_domains() {
  local profile new
  while IFS= read -r profile; do
    [ -n "$profile" ] || continue
    new=$(mktemp "$(dirname "$profile")/.$(basename "$profile").XXXXXX")
    forced_domains_off "$profile" >"$new"
    install_if_changed "$new" "$profile" 0640
  done < <(forced_domain_profiles)
}

configure_modules() {
  local conf="$confdir/autoload_configs/modules.conf.xml" module loads=() active
  [ -f "$conf" ] || die "$conf not found"
  active=$(active_modules "$conf")
  for module in mod_callcenter mod_xml_curl mod_sms; do
    grep -qx "$module" <<<"$active" || loads+=("<load module=\"$module\"/>")
  done
  if [ ${#loads[@]} -gt 0 ]; then
    insert_block "$conf" '<modules>' "$(indent_block '    ' "${loads[@]}")"
  else
    insert_block "$conf" '<modules>' ""
  fi
}

# --- texts (SIP MESSAGE) from the trunk ------------------------------------------------------------
# The external profile takes the carrier's calls unauthenticated (auth-calls false) but challenges
# its MESSAGEs: texts from the trunk are taken like its calls. Switchboard sends texts through
# mod_sms (loaded above) and records the MESSAGE events FreeSWITCH fires.
configure_external_messages() {
  insert_block "$confdir/sip_profiles/external.xml" '<settings>' \
    "$(indent_block '    ' '<param name="auth-messages" value="false"/>')"
}

# mod_sms runs every text through the chatplan first; the stock one is a demo that answers each
# text with "Hello, you said: ..." and keeps it from its recipient. Without a chatplan, texts go
# straight to their recipient, as they do when mod_sms is not loaded.
configure_chatplan() {
  local plan="$confdir/chatplan/default.xml"
  [ -f "$plan" ] || return 0
  backup_once "$plan"
  write_file "$plan" 0640 <<EOF
<include>
  $OWNED no chatplan: mod_sms hands every text straight to its recipient (deploy/freeswitch/install.sh) -->
</include>
EOF
}

# --- the webphone: SIP over secure WebSocket on the internal profile ---------------------------------
# Browsers register on the internal profile like desk phones (the same directory, one SIP domain per
# tenant); sofia's wss transport reads tls-cert-dir/wss.pem, certificate and key in one file.
WS_BINDINGS='ws-binding|wss-binding'
WS_OFF='<!-- switchboard: off, the webphone binds its own wss (deploy/freeswitch/install.sh, its wss option):'

configure_certificate() {
  local dir="$confdir/$WSS_DIR" pem="$confdir/$WSS_DIR/wss.pem" new host san
  if [ ! -d "$dir" ]; then
    mkdir -m 0750 "$dir"
    chown "$owner" "$dir"
    changes+=("$dir")
  fi
  if [ -n "$tls_cert" ]; then
    new=$(mktemp "$dir/.wss.pem.XXXXXX")
    { cat "$tls_cert"; echo; cat "$tls_key"; } | grep -v '^$' >"$new"
    install_if_changed "$new" "$pem" 0640
  elif [ ! -s "$pem" ]; then
    host=${wss_bind%:*}
    host=${host#[}
    host=${host%]}
    san="DNS:localhost,IP:127.0.0.1"
    case "$host" in 0.0.0.0 | :: | 127.0.0.1) ;; *) san="$san,IP:$host" ;; esac
    new=$(mktemp -d "$dir/.new.XXXXXX")
    openssl req -x509 -newkey rsa:2048 -nodes -days 825 -subj "/CN=Switchboard webphone (self-signed)" \
      -addext "subjectAltName=$san" -keyout "$new/key" -out "$new/crt" 2>/dev/null \
      || { rm -rf "$new"; die "openssl could not generate the self-signed certificate"; }
    cat "$new/crt" "$new/key" >"$new/pem"
    chown "$owner" "$new/pem"
    chmod 0640 "$new/pem"
    mv -f "$new/pem" "$pem"
    rm -rf "$new"
    changes+=("$pem")
  fi
}

configure_wss() {
  local profile="$confdir/sip_profiles/internal.xml" new
  new=$(mktemp "$(dirname "$profile")/.$(basename "$profile").XXXXXX")
  params_off "$profile" "$WS_BINDINGS" "$WS_OFF" >"$new"
  install_if_changed "$new" "$profile" 0640
  insert_block "$profile" '<settings>' "$(indent_block '    ' \
    "<param name=\"wss-binding\" value=\"$wss_bind\"/>" \
    "<param name=\"tls-cert-dir\" value=\"\$\${conf_dir}/$WSS_DIR\"/>")"
}

configure_no_wss() {
  # Without --wss, no binding of ours (the stock lines an earlier --wss turned off stay off).
  insert_block "$confdir/sip_profiles/internal.xml" '<settings>' ""
}

preflight() {
  # Everything the steps need, checked before the first change.
  local file anchor profile text
  while IFS= read -r profile; do
    [ -n "$profile" ] || continue
    text=$(forced_domains_off "$profile" | uncommented /dev/stdin)
    ! grep -Eq "name=\"($FORCED_DOMAINS)\"" <<<"$text" \
      || die "$profile sets $FORCED_DOMAINS in a form this script does not rewrite (one <param .../> per line): remove it by hand"
  done < <(forced_domain_profiles)
  while read -r file anchor; do
    [ -f "$confdir/$file" ] || die "$confdir/$file not found"
    grep -Eq "$anchor" "$confdir/$file" || die "$confdir/$file has no line matching $anchor; cannot wire it"
  done <<'EOF'
freeswitch.xml data="directory/\*\.xml"
dialplan/default.xml <context[[:space:]]+name="default"
dialplan/public.xml <context[[:space:]]+name="public"
sip_profiles/external.xml data="external/\*\.xml"
sip_profiles/external.xml <settings>
sip_profiles/internal.xml <settings>
autoload_configs/acl.conf.xml <network-lists>
autoload_configs/modules.conf.xml <modules>
EOF
}

step() {
  # "LABEL: changed (the files it wrote, relative to CONFDIR)" or "LABEL: unchanged".
  local label=$1 before=${#changes[@]} path written=()
  shift
  "$@"
  if [ ${#changes[@]} -gt "$before" ]; then
    for path in "${changes[@]:$before}"; do
      written+=("${path#"$confdir"/}")
    done
    echo "$label: changed (${written[*]})"
  else
    echo "$label: unchanged"
  fi
}

preflight
step "switchboard/ layout (live -> versions/0 on a fresh install)" configure_layout
step "directory/switchboard.xml" configure_directory
step "directory: demo users with the default password moved aside" disable_demo_users
step "dialplan default and public contexts" configure_dialplan
step "sip_profiles/external/switchboard.xml (trunk gateway)" configure_gateway
step "autoload_configs/callcenter.conf.xml" configure_callcenter
step "event socket on $esl_listen:$esl_port (ACL switchboard-esl)" configure_event_socket
step "xml_curl -> ${control_url%/}/freeswitch/xml-curl ($curl_bindings)" configure_xml_curl
step "modules.conf.xml (mod_callcenter, mod_xml_curl, mod_sms)" configure_modules
step "sip_profiles/external.xml: texts from the trunk (auth-messages off)" configure_external_messages
step "chatplan/default.xml: the stock demo (answers every text) out of the way" configure_chatplan
step "sip_profiles: forced registration domains off (one SIP domain per tenant)" configure_domains
if [ -n "$wss_bind" ]; then
  step "switchboard/tls/wss.pem (webphone certificate)" configure_certificate
  step "sip_profiles/internal.xml: webphone WebSocket (wss) on $wss_bind" configure_wss
else
  step "sip_profiles/internal.xml: no webphone WebSocket" configure_no_wss
fi
