"""Create a named API token for a user and print its key (shown only this once)."""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from classification.accounts import tokens


class Command(BaseCommand):
    help = "Create a named API token for USERNAME and print its key; it cannot be shown again."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--name", default="command line", help="What the token is for (shown on the tokens page).")

    def handle(self, *args, username, name, **options):
        try:
            user = get_user_model().objects.get(username=username)
        except get_user_model().DoesNotExist:
            raise CommandError(f"No user {username!r}.")
        try:
            _token, key = tokens.create_token(user, name)
        except tokens.TokenError as exc:
            raise CommandError(str(exc))
        self.stdout.write(key)
