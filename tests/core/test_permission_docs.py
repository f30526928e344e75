"""The permission matrix's descriptions are its one source: every Perm and Role has one, and the
committed docs/PERMISSIONS.md and README role list are exactly what `make permissions-doc`
generates from them."""

from __future__ import annotations

import pytest

from riskops.server.core import permissions
from riskops.server.core.permissions import MATRIX, PERM_TEXT, ROLE_TEXT, ROLE_WHO, Perm, Role

RUN = f"run `{permissions.DOC_COMMAND}` and commit the result"


@pytest.mark.parametrize("perm", list(Perm), ids=str)
def test_every_permission_has_a_description(perm: Perm) -> None:
    assert PERM_TEXT.get(perm, "").strip(), (
        f"Perm {perm.name} ({perm.value}) has no description: add it to PERM_TEXT in "
        f"server/core/permissions.py, then {RUN}."
    )


@pytest.mark.parametrize("role", list(Role), ids=str)
def test_every_role_has_a_description_and_a_row_in_the_matrix(role: Role) -> None:
    where = "in server/core/permissions.py"
    assert ROLE_TEXT.get(role, "").strip(), f"Role {role.value} has no ROLE_TEXT {where}."
    assert ROLE_WHO.get(role, "").strip(), f"Role {role.value} has no ROLE_WHO {where}."
    assert role in MATRIX, f"Role {role.value} has no row in MATRIX {where}."


def test_descriptions_describe_only_what_exists() -> None:
    assert set(PERM_TEXT) == set(Perm)
    assert set(ROLE_TEXT) == set(ROLE_WHO) == set(MATRIX) == set(Role)
    # The home page lists abilities in Perm order: the texts are kept in that order too.
    assert list(PERM_TEXT) == list(Perm)


def test_the_committed_permissions_doc_is_the_generated_one() -> None:
    committed = permissions.DOC.read_text(encoding="utf-8") if permissions.DOC.exists() else ""
    assert committed == permissions.markdown(), (
        f"docs/PERMISSIONS.md differs from the permission matrix: {RUN}."
    )


def test_the_readme_role_list_is_the_generated_one() -> None:
    readme = permissions.README.read_text(encoding="utf-8")
    assert permissions.README_START in readme and permissions.README_END in readme, (
        f"README.md lost its generated role list markers ({permissions.README_START!r} ... "
        f"{permissions.README_END!r}); put them back in its Roles section, then {RUN}."
    )
    assert permissions.readme_with_roles(readme) == readme, (
        f"README.md's role list differs from the permission matrix: {RUN}."
    )


def test_the_doc_shows_the_matrix_cell_by_cell() -> None:
    """The generated table is the matrix: one row per permission, a mark per role holding it."""
    rows = {
        line.split("|")[1].strip(" `"): line
        for line in permissions.markdown().splitlines()
        if line.startswith("| `") and line.count("|") == len(Role) + 3
    }
    assert set(rows) == {p.value for p in Perm}
    for perm in Perm:
        cells = [c.strip() for c in rows[perm.value].split("|")[3:-1]]
        assert cells == ["✓" if perm in MATRIX[role] else "" for role in Role], perm


async def test_the_home_page_shows_one_line_per_role_and_no_matrix(browser, tenant) -> None:  # type: ignore[no-untyped-def]
    """The home is a work list (tests/work): each held role is its one line; the permission
    matrix stays on the admin side."""
    user, principal = await tenant.user("operator", "strategist")
    b = await browser(user, tenant.password)
    home = (await b.get("/")).text
    for perm in Perm:
        assert PERM_TEXT[perm].replace("'", "&#39;") not in home, perm
    for role in Role:
        assert (ROLE_TEXT[role] in home) == (role.value in principal.roles), role


async def test_the_admin_role_pickers_show_the_matrix_descriptions(browser, tenant) -> None:  # type: ignore[no-untyped-def]
    b = await browser(tenant.admin_user, tenant.password)
    page = (await b.get("/admin/users")).text
    for role in Role:
        assert f'title="{ROLE_TEXT[role]}"' in page, role
