"""Provisioning: HR sources drive identities, accounts, birthright roles, licence checks and the grant register.

Entry points other areas use (see README.md in this folder):

* the engine every source shares: :func:`provisioning.planner.build_plan`, :func:`provisioning.apply.apply_plan`
  with :class:`provisioning.feed.PersonRecord` as the common input;
* the read side: :mod:`provisioning.subjects` (``subject_facts``, ``all_role_assignments``, ``org_units``);
* the token hook: :func:`provisioning.accounts.disable_account` and ``AccountRow.tokens_valid_after``;
* loading a generated region: :func:`provisioning.region_loader.load_region`.

Nothing is imported here, so importing a submodule stays cheap.
"""
