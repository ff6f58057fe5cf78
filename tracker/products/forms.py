"""Forms of the software products page."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import StringField
from wtforms.validators import DataRequired, Length


class ProductForm(FlaskForm):
    name = StringField(
        "Nom du logiciel",
        validators=[
            DataRequired("Indiquez le nom du logiciel."),
            Length(max=200, message="200 caractères au maximum."),
        ],
    )
    version = StringField(
        "Version",
        description="La version qui appellera l'API, par exemple 4.2.",
        validators=[
            DataRequired("Indiquez la version du logiciel."),
            Length(max=50, message="50 caractères au maximum."),
        ],
    )
