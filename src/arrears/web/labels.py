"""Words for the codes the pages show (marked with ``N_`` for the catalogues, translated when shown).

Interaction outcomes are not here: ``cases/outcomes.yaml`` carries their zh_CN and en labels.
"""

from __future__ import annotations

from functools import cache
from typing import Any

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


# -- codes of the products, the plan rules, the contact policy packs and the people who act ------------------------

PRODUCTS = {"standard": N_("Standard card"), "gold": N_("Gold card"), "platinum": N_("Platinum card"),
            "diamond": N_("Diamond card")}
#: Why a plan option is not offered (``Option.reason_codes``); ``%(dpd)s`` is the account's days past due.
OPTION_REASONS = {
    "balance_too_small": N_("the balance is below this option's minimum"),
    "dpd_too_low": N_("not yet offered at %(dpd)s days past due"),
    "dpd_too_high": N_("no longer offered at %(dpd)s days past due"),
    "no_minimum_due": N_("there is no minimum payment due"),
    "minimum_is_balance": N_("the minimum payment is the whole balance: offer payment in full"),
    "nothing_overdue": N_("nothing is overdue to defer"),
    "affordability_unknown": N_("no investigation yet: the affordable monthly amount is unknown"),
    "able_to_pay_in_full": N_("the customer can afford to pay the balance in full"),
    "willingness_unknown": N_("the customer's willingness to pay is not recorded"),
    "not_willing": N_("the customer's willingness to pay is too low for this option"),
    "cause_missing": N_("the reason for the arrears is not recorded"),
    "settlement_too_early": N_("settlement is not yet offered at %(dpd)s days past due"),
}
RULE_KINDS = {
    "quiet_hours": N_("Quiet hours"), "public_holiday": N_("Public holidays"), "attempt_limit": N_("Attempt limit"),
    "party_purpose": N_("Who may be contacted, and why"), "no_disclosure": N_("No disclosure to others"),
    "hold": N_("Stop contact (hold)"), "recording": N_("Call recording"), "conversation_pause": N_("Pause after a conversation"),
    "opt_out": N_("Channel opt-out"), "opt_out_notice": N_("Opt-out notice"),
    "limited_content_voicemail": N_("Limited-content voicemail"), "per_person_limit": N_("Limit per third party"),
}
PURPOSES = {"collection": N_("Collection"), "reestablish_contact": N_("Re-establish contact"),
            "reminder": N_("Reminder"), "service": N_("Service")}
#: The parameters of the policy packs' rules (admin's policy pack page).
RULE_PARAMS = {
    "allowed_from": N_("Allowed from"), "allowed_until": N_("Allowed until"),
    "customer_request_may_lift": N_("The customer's request may lift it"), "mode": N_("Mode"),
    "default_country": N_("Default country"), "max_attempts": N_("Most attempts"), "window_days": N_("Window (days)"),
    "rolling": N_("Rolling window"), "scope": N_("Counted per"), "count_channels": N_("Channels counted"),
    "allowed": N_("Allowed purposes by party"), "kinds": N_("Hold kinds"), "flag": N_("Flag"),
    "must_be": N_("Must be"), "retention_days": N_("Kept for (days)"), "extra": N_("More"), "days": N_("Pause (days)"),
    "after": N_("After"), "max_contacts": N_("Most contacts"), "allow": N_("Allow"),
}
#: Values of those parameters that are codes.
RULE_VALUES = {
    "restrict_hours": N_("restrict the hours"), "block": N_("block all day"), "debtor": N_("cardholder"),
    "recorded": N_("recorded"), "opted_out": N_("opted out"), "voicemail_limited": N_("limited content only"),
    "allow": N_("allow"), "debt": N_("per debt"), "person": N_("per person"), "customer": N_("per customer"),
    "after_conversation": N_("after a conversation"), "third_party": N_("third party"),
    "CN": N_("China"), "US": N_("United States"), "opt_out_notice": N_("an opt-out notice is included"),
}
#: Regulation F rule kinds (``us-reg-f``) and the numbers of its duties.
RULE_KINDS |= {
    "cease_communication": N_("Written request to cease communication"),
    "place_of_employment": N_("Place of employment"), "collector_disclosure": N_("Debt-collector disclosure"),
    "envelope": N_("Sealed envelope, return address only"), "time_barred": N_("Time-barred debt"),
    "validation_notice": N_("Validation notice"), "credit_reporting": N_("Credit reporting"),
    "record_retention": N_("Record retention"),
}
RULE_PARAMS |= {
    "within_days": N_("Within (days)"), "wait_days": N_("Wait (days)"), "records_years": N_("Records kept (years)"),
    "recordings_years": N_("Recordings kept (years)"),
}
#: China rule kinds of GB/T 45251—2025 and the CBA guideline (``cn`` 2026.2).
RULE_KINDS |= {
    "agency_notice": N_("Notice before placement with an agency"),
    "connected_limit": N_("Connected conversations a day"),
    "debtor_unreachable": N_("Others only when the cardholder cannot be reached"),
    "field_visit": N_("Field visit"), "refused_contact": N_("Not contacted again after a refusal"),
}
RULE_PARAMS |= {
    "notice_days": N_("Notice (days)"), "min_attempts": N_("Fewest attempts"),
    "min_collectors": N_("Fewest collectors"), "agreement_required": N_("Only with the cardholder's agreement"),
    "max_conversations": N_("Most conversations"),
}
RULE_VALUES |= {"refused": N_("refused")}

ROLES = {
    "agent": N_("Agent"), "team_lead": N_("Team lead"), "supervisor": N_("Supervisor"),
    "compliance": N_("Compliance officer"), "admin": N_("Administrator"), "auditor": N_("Auditor"),
}


@cache
def _plan_products():  # type: ignore[no-untyped-def]
    from arrears.plans.config import load_default_plan_products

    return load_default_plan_products()


def plan_label(code: str, locale: str) -> str:
    """The name of the plan product ``code`` in ``locale`` (the code when the product is unknown)."""
    try:
        labels = _plan_products().product(code).labels
    except Exception:  # noqa: BLE001 - an agreement on a product no longer offered still shows its code
        return code
    return labels.get(locale) or labels.get("en") or code  # type: ignore[no-any-return]


#: The message templates (``channels/templates/catalogue.yaml``).
TEMPLATES = {
    "early.reminder": N_("Reminder of a missed payment"), "early.second_reminder": N_("Second reminder"),
    "letter.demand": N_("Letter of demand"), "letter.legal_notice": N_("Notice before legal action"),
    "plan.confirmation_code": N_("Plan confirmation code"), "plan.reminder": N_("Instalment reminder"),
    "portal.code": N_("Self-service sign-in code"), "portal.link": N_("Personal self-service link"),
    "promise.reminder": N_("Promise reminder"),
}
#: The notice before a placement with an outside agency (``cn`` · ``agency_notice``).
TEMPLATES |= {"agency.notice": N_("Notice of placement with an agency")}
#: The Regulation F validation notice (``us-reg-f``).
TEMPLATES |= {"regf.validation_notice": N_("Validation notice")}


#: The services' refusals a page may show (their messages are English, for the API and the logs), as
#: catalogue messages: (pattern of the service's message, message id; the pattern's named groups are its
#: parameters, a group named ``status``/``state``/``role`` shown by its label).
SERVICE_MESSAGES: tuple[tuple[str, str], ...] = (
    (r"four-eyes: the person who made the agreement cannot approve it",
     N_("You made this agreement: another person must approve it.")),
    (r"agreement \d+ needs a (?P<role>\w+)'s approval first", N_("The agreement needs the approval of: %(role)s.")),
    (r"case \d+ already has agreement \d+ \((?P<status>\w+)\)",
     N_("The case already has an agreement (%(status)s): finish or cancel it first.")),
    (r"agreement \d+ already revises it", N_("A new version already waits: cancel it first.")),
    (r"agreement \d+ is (?P<status>\w+)", N_("The agreement is %(status)s: this cannot be done now.")),
    (r"case \d+ is (?P<state>\w+): reopen it before agreeing a plan",
     N_("The case is %(state)s: reopen it before agreeing a plan.")),
    (r"case \d+ is (?P<state>\w+): the agreement cannot start",
     N_("The case is %(state)s: the agreement cannot start.")),
    (r"the first instalment was due (?P<day>[\d-]+)", N_("The first instalment was due %(day)s: make a new agreement.")),
    (r"too many wrong codes", N_("Too many wrong codes: confirm the agreement another way.")),
    (r"\d+ codes were already sent", N_("Too many codes were sent for this agreement: confirm it another way.")),
    (r"no code was sent for this agreement", N_("No code was sent for this agreement yet.")),
    (r"the customer has no verified mobile number",
     N_("The customer has no verified mobile number that accepts messages.")),
    (r"a cancellation needs a reason", N_("Say why the agreement is cancelled.")),
    (r"a personalised instalment agreement needs the reason recorded",
     N_("A personalised plan needs the reason recorded.")),
    (r"the code the customer received is required", N_("Enter the code the customer received.")),
    (r"confirmation by \w+ needs the reference",
     N_("This way of confirming needs the reference of the recording or the document.")),
    (r"contact point \d+ is not a verified mobile", N_("That number is not a verified mobile of the customer.")),
    (r"the promised date is before the day", N_("The promised date cannot be before today.")),
    (r"promised_date: too far ahead, at the latest (?P<day>[\d-]+)",
     N_("The promised date is too far ahead: at the latest %(day)s.")),
    (r"a promise needs a positive whole amount", N_("Must be more than 0")),
    (r"appointment \d+ is (?P<status>\w+), not scheduled", N_("The call-back is %(status)s already.")),
    (r"hold review \d+ is already reviewed", N_("This hold was already reviewed.")),
    (r"hold review \d+: you recorded the interaction", N_("You placed this hold: a second person must review it.")),
    (r"user \d+ already holds \d+ case", N_("You already hold as many cases as you may: finish or release one first.")),
    (r"case \d+ is not held by user", N_("You do not hold this case: take it from the queue first.")),
    (r"no case \d+", N_("There is no such case.")),
    (r"a hold cannot end before it starts", N_("The hold cannot end before it starts.")),
    (r"an appointment window must end after it starts", N_("The call-back must end after it starts.")),
)
#: Which label table names each parameter of those messages.
SERVICE_MESSAGE_WORDS = {"status": {**AGREEMENT_STATUSES, **APPOINTMENT_STATUSES}, "state": STATES, "role": ROLES}


def rule_parameters(rule: object, locale: str) -> list[tuple[str, str]]:
    """The parameters of a policy pack's rule (its fields beyond the common ones), each as (name, value)
    in words in ``locale``: yes/no, labelled codes, times of day, lists and (name, value) pairs."""
    import dataclasses

    from arrears.contact.policy import Rule
    from arrears.web.i18n import translations

    gettext: Any = translations(locale).gettext

    words = {**CHANNELS, **PARTIES, **PURPOSES, **HOLD_KINDS, **ROLES, **RULE_VALUES}

    def shown(value: Any) -> str:
        if isinstance(value, bool):
            return str(gettext("yes") if value else gettext("no"))
        if isinstance(value, tuple) and len(value) == 2 and value[0] in RULE_PARAMS:
            return f"{gettext(RULE_PARAMS[value[0]])}: {shown(value[1])}"
        if isinstance(value, tuple) and len(value) == 2 and isinstance(value[0], str) \
                and not isinstance(value[1], str | int):
            return f"{shown(value[0])}: {shown(value[1])}"
        if isinstance(value, frozenset | set | tuple | list):
            return "; ".join(shown(v) for v in sorted(value, key=str)) if value else "—"
        if isinstance(value, str) and value in words:
            return str(gettext(words[value]))
        return str(value)

    base = {f.name for f in dataclasses.fields(Rule)}
    out = []
    for f in dataclasses.fields(rule):  # type: ignore[arg-type]
        if f.name in base:
            continue
        value = getattr(rule, f.name)
        if f.name in ("allowed_from", "allowed_until") and isinstance(value, int):  # seconds after midnight
            value = f"{value // 3600:02d}:{value % 3600 // 60:02d}"
        out.append((str(gettext(RULE_PARAMS[f.name])) if f.name in RULE_PARAMS else f.name, shown(value)))
    return out


#: Form inputs by their ``name``, as an error box names the field to correct (an input not listed is
#: marked on the page only, never shown by its code).
FIELDS = {
    "reason": N_("Reason"), "note": N_("Note"), "notes": N_("Notes"), "kind": N_("Kind"), "team": N_("Team"),
    "password": N_("Password"), "option_code": N_("Option"), "contact_point_id": N_("Number"),
    "channel": N_("Channel"), "cause": N_("Cause"), "role": N_("Role"), "recording_ref": N_("Recording reference"),
    "q": N_("Search"), "outcome": N_("Outcome"), "dependants": N_("Dependants"), "amount": N_("Amount"),
    "agreement_id": N_("Agreement"), "willingness": N_("Willingness to pay"), "to_state": N_("Move the case to"),
    "team_name": N_("Team name"), "team_code": N_("Team code"), "reference": N_("Reference"),
    "promise_date": N_("Promised date"), "promised_date": N_("Promised date"), "promise_amount": N_("Promised amount"),
    "party": N_("Who answered"), "other_debt_payments": N_("Other debt payments"), "next_step": N_("Next step"),
    "move_reason": N_("Reason for the move"), "monthly_income": N_("Monthly income"), "method": N_("How confirmed"),
    "lift_hold_on": N_("Lift the hold on"), "essential_spending": N_("Essential spending"),
    "display_name": N_("Display name"), "direction": N_("Direction"), "contact_time": N_("Time of contact"),
    "contact_date": N_("Date of contact"), "appointment_date": N_("Call-back date"),
    "appointment_from": N_("Call-back from"), "appointment_to": N_("Call-back to"), "username": N_("Username"),
    "active": N_("Access"), "call_id": N_("Call"),
}
#: A field visit's record and an agreed call-back (the cn pack's rules of GB/T 45251—2025).
FIELDS |= {"visit_collectors": N_("Collectors on the visit"), "visit_entered": N_("They entered the home"),
           "visit_consent": N_("The occupant consented to their entering"),
           "appointment_agreed": N_("The customer asked for this time (their agreement is recorded)")}
#: The agent's confirmation of the debt-collector disclosure (``us-reg-f`` · ``collector_disclosure``).
FIELDS |= {"disclosure_given": N_("Debt-collector disclosure given")}

#: The request validator's refusals (pydantic's error types) in words; ``%(...)s`` from its context.
VALIDATION = {
    "missing": N_("Required"),
    "string_too_long": N_("At most %(max_length)s characters"),
    "string_too_short": N_("At least %(min_length)s characters"),
    "int_parsing": N_("Give a whole number"), "int_type": N_("Give a whole number"),
    "int_from_float": N_("Give a whole number"),
    "greater_than_equal": N_("Must be %(ge)s or more"), "greater_than": N_("Must be more than %(gt)s"),
    "less_than_equal": N_("Must be %(le)s or less"), "less_than": N_("Must be less than %(lt)s"),
    "string_pattern_mismatch": N_("Not a valid value"), "string_type": N_("Not a valid value"),
}
