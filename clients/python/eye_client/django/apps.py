"""The Django app (for the ``eye`` template tags): add ``"eye_client.django"`` to INSTALLED_APPS."""

from django.apps import AppConfig


class EyeConfig(AppConfig):
    name = "eye_client.django"
    label = "eye_client"
    verbose_name = "The Eye"
