"""Typed SQLAlchemy mappings, one module per aggregate. Importing this package registers them all."""

from control.models.accounts import ApiToken, LoginThrottle, User, user_teams
from control.models.activity import ActivityItem, CallRecord, PresenceState
from control.models.audit import AuditLog
from control.models.automations import Automation, AutomationRun, AutomationStep, AutomationStepResult
from control.models.avatars import Avatar
from control.models.broadcasts import Broadcast, BroadcastRecipient, broadcast_contacts, broadcast_tags
from control.models.commands import Command, TextMessage
from control.models.contacts import Contact, ContactNumber, Favourite, contact_tags
from control.models.deploys import DeployRecord
from control.models.destinations import DESTINATION_KINDS
from control.models.lines import Line
from control.models.nodes import PbxNode
from control.models.numbers import CountryRule, InventoryNumber, NumberDocument, PhoneNumber
from control.models.pbx_state import LiveChannel, RawEvent, SipRegistration
from control.models.queues import Queue, QueueMember
from control.models.ring_groups import RingGroup, RingGroupMember
from control.models.tags import Tag
from control.models.teams import Team
from control.models.tenants import Tenant

__all__ = [
    "DESTINATION_KINDS",
    "ActivityItem",
    "ApiToken",
    "AuditLog",
    "Avatar",
    "Automation",
    "AutomationRun",
    "AutomationStep",
    "AutomationStepResult",
    "Broadcast",
    "BroadcastRecipient",
    "CallRecord",
    "Command",
    "Contact",
    "CountryRule",
    "ContactNumber",
    "DeployRecord",
    "Favourite",
    "InventoryNumber",
    "Line",
    "LiveChannel",
    "LoginThrottle",
    "NumberDocument",
    "PbxNode",
    "PhoneNumber",
    "PresenceState",
    "Queue",
    "QueueMember",
    "RawEvent",
    "RingGroup",
    "RingGroupMember",
    "SipRegistration",
    "Tag",
    "Team",
    "TextMessage",
    "Tenant",
    "User",
    "broadcast_contacts",
    "broadcast_tags",
    "contact_tags",
    "user_teams",
]
