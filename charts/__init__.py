"""The Helm chart (charts/podscope), shipped as package data so that ``podscope tap`` finds it
in an installed wheel as in a checkout."""
