"""The per-user quotas the API charges before it accepts work (clients only: operators and
admins are not limited by them). Each setting is in backend/core/settings.py SecuritySettings."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool

from backend.core.errors import QuotaExceeded
from backend.core.security.tokens import Principal
from backend.core.settings import settings
from backend.platform.enqueue import CeleryTaskService
from backend.resilience import quotas
from backend.resilience.quotas import DAY, HOUR, Quota
from backend.services import recipients

__all__ = ["charge_cases", "charge_cases_and_recipients"]


async def charge_cases(principal: Principal, cases: int, email_recipients: int) -> None:
    """Cases per day and e-mail recipients per hour (each case's client e-mail, a batch's
    notify e-mail)."""
    if principal.sees_everything:
        return
    sec = settings.security
    case_quota = Quota("cases", sec.cases_per_day, DAY)
    await run_in_threadpool(quotas.charge, principal.user, case_quota, cases)
    try:
        await run_in_threadpool(
            quotas.charge,
            principal.user,
            Quota("email_recipients", sec.email_recipients_per_hour, HOUR),
            email_recipients,
        )
    except QuotaExceeded:
        await run_in_threadpool(quotas.refund, principal.user, case_quota, cases)
        raise


async def charge_cases_and_recipients(
    principal: Principal,
    tasks: CeleryTaskService,
    cases: int,
    addresses: list[str | None],
) -> None:
    """Charge the cases and every address named, plus each confirmation e-mail that naming
    them sends (finding 6); then record the addresses and send those confirmations."""
    named = [a for a in addresses if a]
    due = await run_in_threadpool(
        recipients.confirmations_due, principal.user, principal.email, named
    )
    await charge_cases(principal, cases, len(named) + due)
    await run_in_threadpool(
        recipients.request,
        tasks,
        owner=principal.user,
        account_email=principal.email,
        addresses=named,
    )
