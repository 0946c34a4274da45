"""The tests mirror the module tree: each module with behaviour of its own has its tests at
``tests/<path>/test_<module>.py``. Boilerplate (app configs, models, URL lists, admin,
migrations, commands, task wrappers) is tested through what uses it."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
APPS = (
    "common",
    "audit",
    "applications",
    "approvals",
    "documents",
    "crosscheck",
    "workflows",
    "inspection",
    "operations",
    "demo",
)
BOILERPLATE = {"__init__.py", "apps.py", "models.py", "urls.py", "admin.py", "tasks.py"}
# Modules tested through another module's tests, and where.
TESTED_ELSEWHERE = {
    "applications/api_pagination.py": "tests/applications/test_api.py (list pages)",
    "applications/permissions.py": "tests/applications/test_selectors.py (grants and scope)",
    "applications/roles.py": "tests/applications/test_selectors.py (codes and levels)",
    "documents/services/loan_documents.py": "tests/loans/test_documents.py (printed loans)",
    "demo/loan_story.py": "tests/demo/test_seed.py (the demo's loans)",
    "demo/crosscheck_story.py": "tests/demo/test_seed.py (the demo's cross-checks)",
    "demo/registry_story.py": "tests/demo/test_seed.py (the demo's registry sheets)",
    "demo/world.py": "tests/demo/test_seed.py and every test's world (tests/factories.py)",
    "inspection/exports.py": "tests/inspection/test_views.py (CSV and XLSX exports)",
    "workflows/templatetags/cadre_tags.py": "tests/workflows/views/test_cadre.py",
}


def _modules() -> list[Path]:
    found = []
    for app in APPS:
        for path in sorted((ROOT / app).rglob("*.py")):
            relative = path.relative_to(ROOT)
            if {"migrations", "management"} & set(relative.parts):
                continue
            if path.name in BOILERPLATE:
                continue
            found.append(relative)
    return found


def test_every_module_has_its_tests_at_the_mirrored_path() -> None:
    missing = [
        str(module)
        for module in _modules()
        if str(module) not in TESTED_ELSEWHERE
        and not (ROOT / "tests" / module.parent / f"test_{module.stem}.py").exists()
    ]

    assert missing == []


def test_the_exemptions_name_modules_that_exist_and_tests_that_exist() -> None:
    for module, where in TESTED_ELSEWHERE.items():
        assert (ROOT / module).exists(), module
        assert (ROOT / where.split(" ")[0]).exists(), where
