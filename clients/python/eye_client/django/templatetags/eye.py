"""``{% load eye %}{% eye_track "form interaction" "submit" form="signup" %}`` tracks an event
when the template renders (needs the ``request`` context processor). Renders nothing."""

from typing import Any

from django import template

from eye_client.django import track

register = template.Library()


@register.simple_tag(takes_context=True)
def eye_track(context: Any, category: str, name: str, **data: Any) -> str:
    request = context.get("request")
    if request is not None:
        track(request, category, name, data)
    return ""
