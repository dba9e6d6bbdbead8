"""Names Switchboard gives to objects on the PBX, shared by the renderers and the live toggles.

Queue pause/unpause, tier add/del and event normalisers must use these, never rebuild the strings.
"""

from __future__ import annotations

# FreeSWITCH: the vanilla contexts, one gateway on the external profile.
FS_DEFAULT_CONTEXT = "default"
FS_PUBLIC_CONTEXT = "public"
FS_GATEWAY = "switchboard-trunk"
FS_URI_PROFILE = "external"
#: Do Not Disturb, live: mod_hash realm the command executor writes (key `fs_dnd_key`, value 1 or
#: 0) and the rendered dialplan reads; without an entry the dialplan falls back to the model's state
FS_DND_REALM = "switchboard_dnd"
#: mod_callcenter agent statuses: Available receives queue calls, On Break (DND) none
FS_AGENT_AVAILABLE = "Available"
FS_AGENT_DND_STATUS = "On Break"

# Asterisk: contexts and pjsip objects of their own, so the stock configuration never collides.
AST_INTERNAL = "switchboard-internal"
AST_FROM_TRUNK = "switchboard-from-trunk"
AST_OUTBOUND = "switchboard-outbound"
AST_LEGS = "switchboard-legs"
AST_TRANSPORT = "switchboard-udp"
AST_TRUNK = "switchboard-trunk"
AST_URI = "switchboard-uri"
#: Do Not Disturb, live: AstDB family DBPut by the command executor, and the check's context
AST_DND_FAMILY = "switchboard-dnd"
AST_DND = "switchboard-dnd"
#: Click-to-call: the answered phone's channel continues here and dials the target
AST_ORIGINATE = "switchboard-originate"
#: Out-of-call SIP MESSAGEs from the trunk (pjsip message_context)
AST_MESSAGES = "switchboard-messages"
#: the UserEvent the message context raises for each inbound text
AST_TEXT_EVENT = "SwitchboardText"
#: Texts out: a Local channel into this context sends the MESSAGE, then raises AST_TEXT_SENT_EVENT
AST_TEXT_OUT = "switchboard-text-out"
AST_TEXT_SENT_EVENT = "SwitchboardTextSent"
#: Broadcast calls: a Local channel into this context dials the number through the trunk (`call`)
#: and plays the recording (`play`) from <conf dir>/switchboard/media; the result (DIALSTATUS)
#: comes back as AST_BROADCAST_EVENT
AST_BROADCAST = "switchboard-broadcast"
AST_BROADCAST_EVENT = "SwitchboardBroadcastCall"
#: body chunks (SB_TEXT_B64_1 ...) of at most this many base64 characters, as many as rendered
AST_TEXT_CHUNK = 900
AST_TEXT_CHUNKS = 10


def fs_queue(extension: str, domain: str) -> str:
    """mod_callcenter queue name (`callcenter_config queue ...`, CC-Queue in events)."""
    return f"{extension}@{domain}"


def fs_agent(extension: str, domain: str) -> str:
    """mod_callcenter agent name (`callcenter_config tier add <queue> <agent> ...`, CC-Agent)."""
    return f"{extension}@{domain}"


def fs_dnd_key(extension: str, domain: str) -> str:
    """The mod_hash key of a user's live Do Not Disturb entry (realm FS_DND_REALM)."""
    return f"{extension}@{domain}"


def ast_queue(extension: str) -> str:
    """app_queue queue name (QueuePause Queue:, `queue show`)."""
    return f"queue-{extension}"


def ast_interface(extension: str) -> str:
    """The PJSIP device a user's endpoint dials and whose state app_queue watches."""
    return f"PJSIP/{extension}"


#: Each user's webphone is a SIP device of its own beside the desk phone, on both PBX kinds, named
#: "<extension>-webphone" and registering with the user's own SIP secret (Asterisk: a pjsip
#: endpoint, auth and AOR for WebRTC over the wss transport; FreeSWITCH: a directory user in the
#: tenant's domain, registering on the internal profile's wss binding). Both ring on a direct call,
#: a ring-group call, a queue call and a click-to-call.
WEBPHONE_SUFFIX = "-webphone"


def webphone_user(extension: str) -> str:
    """The webphone's SIP user name (Asterisk: its endpoint) of the user with this extension."""
    return f"{extension}{WEBPHONE_SUFFIX}"


def device_owner(user: str) -> str:
    """The extension a SIP user, endpoint or AOR belongs to: `1001-webphone` -> `1001`."""
    return user.removesuffix(WEBPHONE_SUFFIX)


def fs_devices(extension: str, domain: str) -> str:
    """The directory dial-string of a user, what `user/<ext>@<domain>` rings (a direct call, a
    ring group's leg, a queue's agent contact, a click-to-call): every registration of the desk
    phone's user and of the webphone's, in parallel. One without a registration is the failing leg
    error/user_not_registered, which the others ring past. The webphone's leg has a uuid of its
    own: a click-to-call's origination_uuid reaches every leg, and only one channel can have it."""
    desk = f"${{sofia_contact(*/{extension}@{domain})}}"
    webphone = (
        f"[origination_uuid=${{create_uuid()}}]${{sofia_contact(*/{webphone_user(extension)}@{domain})}}"
    )
    return f"{{presence_id={extension}@{domain}}}{desk},{webphone}"


def ast_devices(extension: str) -> str:
    """The Dial string that rings every device of a user: the desk phone, and the webphone's
    contact while it has one (Dial of an endpoint without a contact logs an ERROR). The
    substitution runs when the dialplan does: `&PJSIP/<ext>-webphone/<uri>` or nothing."""
    contacts = f"${{PJSIP_DIAL_CONTACTS({webphone_user(extension)})}}"
    return f'{ast_interface(extension)}${{IF($["{contacts}" != ""]?&)}}{contacts}'


#: Every device of a user as one channel, for what takes a single interface (a queue member,
#: an Originate): extension <ext> of this context Dials `ast_devices` and carries the hint
#: `ast_device_states` whose state app_queue watches.
AST_DEVICES = "switchboard-devices"


def ast_device_states(extension: str) -> str:
    """The hint of a user: the state of all their devices together (in use when either is)."""
    return f"{ast_interface(extension)}&{ast_interface(webphone_user(extension))}"


def ast_user_channel(extension: str) -> str:
    """The channel that rings every device of a user: a queue member's interface (QueuePause
    names it) and the Originate channel of click-to-call and the ring test."""
    return f"Local/{extension}@{AST_DEVICES}"


def ast_user_state(extension: str) -> str:
    """A queue member's state_interface: the user's hint, so a call on either device is in use."""
    return f"hint:{extension}@{AST_DEVICES}"


def ast_line_context(line_id: int) -> str:
    return f"switchboard-line-{line_id}"


def ast_leg_extension(group_extension: str, position: int) -> str:
    """A helper extension in AST_LEGS that rings one ring-group member for its own timeout."""
    return f"g{group_extension}m{position}"
