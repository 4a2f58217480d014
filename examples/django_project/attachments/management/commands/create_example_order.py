"""`python manage.py create_example_order`: a user who can log in, and an order they own.

Run again, it keeps the order and resets the user's password to the one given, so the
README's steps work on a fresh database and on one used before.
"""

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandParser

from attachments.models import OrderRequest


class Command(BaseCommand):
    help = "Create (or reset) an example user and an order they own, to log in and try the views."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--username", default="alice", help="login name (default: alice)")
        parser.add_argument(
            "--password",
            default="example-only-password",
            help="password (default: example-only-password; an example, not for real use)",
        )
        parser.add_argument(
            "--order", default="SB1029435", help="order_req_id the user owns (default: SB1029435)"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        user, created = get_user_model().objects.get_or_create(username=options["username"])
        user.set_password(options["password"])
        user.save()
        order, _ = OrderRequest.objects.get_or_create(
            order_req_id=options["order"], defaults={"owner": user}
        )
        if order.owner_id != user.id:
            order.owner = user
            order.save(update_fields=["owner"])
        verb = "created" if created else "reset"
        self.stdout.write(
            f"user {user.username} (id {user.id}) {verb}; order {order.order_req_id} is theirs. "
            f"Log in at /accounts/login/ with password {options['password']!r}."
        )
