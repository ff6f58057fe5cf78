"""Form helpers shared by the feature packages."""

from __future__ import annotations

import re

from flask_wtf import FlaskForm

# An id or a page number from a URL or a form: ASCII digits only (str.isdigit() also accepts « ² »), and
# short enough for any database integer.
SMALL_NUMBER = re.compile(r"[0-9]{1,9}")


def attach_error(form: FlaskForm, field_name: str | None, message: str) -> None:
    """Show a service's refusal next to the field it concerns, or above the form when it concerns none."""
    if field_name and field_name in form:
        form[field_name].errors = [*form[field_name].errors, message]
    else:
        form.form_errors.append(message)


class SimpleForm(FlaskForm):
    """A POST that carries nothing but its CSRF token (a button)."""
