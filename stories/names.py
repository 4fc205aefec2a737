"""The shipped list of actor names.

Each story draws its actors uniformly at random from this list, so every name is seen in
training. Names are single capitalised words that never collide with the grammar's words.
"""

from __future__ import annotations

from typing import Final

ACTOR_NAMES: Final[tuple[str, ...]] = (
    "Ava", "Ben", "Cara", "Dan", "Eli", "Fay", "Gus", "Hana", "Ivan", "Jade",
    "Kai", "Lena", "Milo", "Nina", "Omar", "Pia", "Quinn", "Rosa", "Sam", "Tara",
    "Uma", "Vic", "Wren", "Xena", "Yuri", "Zoe", "Abel", "Bea", "Cole", "Dina",
    "Ezra", "Faye", "Gina", "Hugo", "Iris", "Joel", "Kira", "Leo", "Maya", "Noah",
    "Olga", "Paul", "Rhea", "Seth", "Theo", "Ursa", "Vera", "Wade", "Yara", "Zack",
    "Amir", "Beth", "Cruz", "Dora", "Enzo", "Flora", "Gail", "Hank", "Ines", "Jonas",
    "Kurt", "Lola", "Mona", "Ned", "Otto", "Petra", "Raul", "Sara", "Tom", "Ugo",
)  # fmt: skip
