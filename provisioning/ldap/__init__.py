"""LDAP directory sync with ldap3 through the provisioning engine; see ``README.md`` here.

``config`` (the YAML file), ``directory`` (bind, TLS, paged search), ``mapping`` (entry -> PersonRecord),
``sync`` (full/incremental, through ``build_plan``/``apply_plan``), ``cli`` (``iam ldap sync``).
"""
