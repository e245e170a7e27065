"""Imports every ORM module so that ``Base.metadata`` knows the whole schema (migrations, tests)."""

from arrears.accounts import tables as accounts_tables  # noqa: F401
from arrears.auth import tables as auth_tables  # noqa: F401
from arrears.cases import tables as cases_tables  # noqa: F401
from arrears.channels import tables as channels_tables  # noqa: F401
from arrears.complaints import tables as complaints_tables  # noqa: F401
from arrears.contact import cn_tables as contact_cn_tables  # noqa: F401
from arrears.contact import regf_tables as contact_regf_tables  # noqa: F401
from arrears.contact import tables as contact_tables  # noqa: F401
from arrears.delinquency import tables as delinquency_tables  # noqa: F401
from arrears.dialler import tables as dialler_tables  # noqa: F401
from arrears.escalation import tables as escalation_tables  # noqa: F401
from arrears.kit.db import Base
from arrears.payments import tables as payments_tables  # noqa: F401
from arrears.plans import tables as plans_tables  # noqa: F401
from arrears.portal import tables as portal_tables  # noqa: F401
from arrears.strategy import active as strategy_active  # noqa: F401
from arrears.strategy import tables as strategy_tables  # noqa: F401

metadata = Base.metadata
