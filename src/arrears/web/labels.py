"""Words for the codes the pages show (marked with ``N_`` for the catalogues, translated when shown).

Interaction outcomes are not here: ``cases/outcomes.yaml`` carries their zh_CN and en labels.
"""

from __future__ import annotations

from arrears.web.i18n import N_

STATES = {
    "new": N_("New"), "contacting": N_("Contacting"), "investigating": N_("Investigating"),
    "negotiating": N_("Negotiating"), "plan_active": N_("Plan active"), "follow_up": N_("Follow-up"),
    "legal_review": N_("Legal review"), "agency_placement": N_("Agency placement"),
    "charged_off": N_("Charged off"), "closed": N_("Closed"), "cured": N_("Cured"),
}
CAUSES = {
    "job_loss": N_("Lost their job"), "illness": N_("Illness or injury"),
    "business_trouble": N_("Business trouble"), "over_indebted": N_("Too many debts"),
    "forgot": N_("Forgot to pay"), "dispute": N_("Disputes the debt"), "fraud": N_("Reports fraud"),
    "other": N_("Another reason"),
}
WILLINGNESS = {
    1: N_("1 – refuses"), 2: N_("2 – reluctant"), 3: N_("3 – undecided"), 4: N_("4 – willing"),
    5: N_("5 – very willing"),
}
CHANNELS = {
    "call": N_("Call"), "sms": N_("SMS"), "email": N_("E-mail"), "letter": N_("Letter"), "visit": N_("Visit"),
    "app": N_("App"),
    "self_service": N_("Self-service"),
}
DIRECTIONS = {"outbound": N_("outbound"), "inbound": N_("inbound")}
PARTIES = {
    "debtor": N_("Cardholder"), "emergency_contact": N_("Emergency contact"), "other": N_("Someone else"),
    "nobody": N_("Nobody reached"),
}
CONTACT_KINDS = {
    "phone": N_("Phone"), "email": N_("E-mail"), "address": N_("Address"), "national_id": N_("National ID"),
    "name": N_("Name"),
}
OWNERS = {"debtor": N_("cardholder"), "emergency": N_("emergency contact"), "other": N_("other")}
HOLD_KINDS = {
    "dispute": N_("Dispute"), "complaint": N_("Complaint"), "hardship": N_("Hardship"),
    "bankruptcy": N_("Bankruptcy"), "deceased": N_("Deceased"), "fraud": N_("Fraud"), "legal": N_("Legal"),
}
PROMISE_STATUSES = {"open": N_("open"), "kept": N_("kept"), "partly_kept": N_("partly kept"),
                    "broken": N_("broken")}
APPOINTMENT_STATUSES = {"scheduled": N_("scheduled"), "done": N_("done"), "missed": N_("missed"),
                        "cancelled": N_("cancelled")}
AGREEMENT_STATUSES = {
    "pending_approval": N_("Waiting for approval"), "awaiting_confirmation": N_("Waiting for the customer's confirmation"),
    "active": N_("Active"), "completed": N_("Completed"), "broken": N_("Broken"), "superseded": N_("Superseded"),
    "cancelled": N_("Cancelled"),
}
CONFIRMATION_METHODS = {
    "recorded_call": N_("Recorded call"), "sms_code": N_("SMS code"), "signed_document": N_("Signed document"),
    "app": N_("In the app"),
}
MESSAGE_STATUSES = {"pending": N_("queued"), "sent": N_("sent"), "failed": N_("failed"), "dead": N_("failed")}
NEXT_ACTIONS = {
    "appointment_now": N_("Appointment now"), "appointment": N_("Appointment"),
    "hold_review": N_("Hold under review: no contact"), "broken_promise": N_("Follow up the broken promise"),
    "promise_due": N_("Promise to pay by"),
    "state_new": N_("First contact"), "state_contacting": N_("Reach the cardholder"),
    "state_investigating": N_("Find out the reason"), "state_negotiating": N_("Offer the options"),
    "state_plan_active": N_("Watch the plan"), "state_follow_up": N_("Follow up"),
    "state_legal_review": N_("Legal review"), "state_agency_placement": N_("With an agency"),
    "state_charged_off": N_("Recovery after charge-off"),
}
#: The guided call script, in order: (step code, title).
SCRIPT_STEPS = (
    ("greeting", N_("Greeting and verification")),
    ("explain", N_("Explain the arrears")),
    ("reason", N_("Listen to the reason")),
    ("investigation", N_("Investigation")),
    ("options", N_("Options")),
    ("agreement", N_("Agreement")),
    ("next", N_("Outcome and next step")),
)
WEEKDAYS = {
    "Mon": N_("Mon"), "Tue": N_("Tue"), "Wed": N_("Wed"), "Thu": N_("Thu"), "Fri": N_("Fri"), "Sat": N_("Sat"),
    "Sun": N_("Sun"),
}
NEXT_STEPS = {
    "none": N_("No next step"), "promise": N_("Promise to pay"), "appointment": N_("Call-back appointment"),
    "transition": N_("Move the case on"),
}


def of(table: dict, code: object) -> str:  # type: ignore[type-arg]
    """The label of ``code`` (untranslated), or the code itself when it has none."""
    return table.get(code, str(code))  # type: ignore[no-any-return]
