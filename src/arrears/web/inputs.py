"""The inputs of the web pages: bounded ids and dates, and one guard against control characters.

Every page's path, query and form fields pass :func:`refuse_control_characters` (a dependency of the
whole web application) before the page runs: a value holding NUL or another control character is
answered 422 naming the field, for every form at once, the login form included. Ids in paths and
forms are :data:`PathId`/:data:`FormId` (1 … 2^63−1, like the API's), so a number beyond 64 bits is
a 422, never an overflow in the store. Dates typed in filters are :data:`arrears.kit.inputs.IsoDate`.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Form, Path, Request
from starlette.datastructures import UploadFile

from arrears.kit.inputs import MAX_INT, check_text

#: An id in a page's path: 1 … 2^63−1.
PathId = Annotated[int, Path(ge=1, le=MAX_INT)]
#: An id in a form: 1 … 2^63−1.
FormId = Annotated[int, Form(ge=1, le=MAX_INT)]
#: An optional id in a form (empty or left out: None).
OptionalFormId = Annotated[int | None, Form(ge=1, le=MAX_INT)]

_FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


async def refuse_control_characters(request: Request) -> None:
    """Refuse (422, naming the field) any path, query or form value holding a control character."""
    for name, value in request.path_params.items():
        if isinstance(value, str):
            check_text(value, field=name)
    for name, value in request.query_params.multi_items():
        check_text(name, field="query")
        check_text(value, field=name)
    if request.method == "POST" and request.headers.get("content-type", "").startswith(_FORM_TYPES):
        form = await request.form()
        for name, item in form.multi_items():
            check_text(name, field="form")
            if not isinstance(item, UploadFile):
                check_text(item, field=name)


__all__ = ["FormId", "OptionalFormId", "PathId", "refuse_control_characters"]
