"""cvgl-bench method plugin ``clnet``: an unofficial re-implementation of CLNet from its abstract.

CLNet (Cao et al., arXiv 2512.14560, "Cross-View Correspondence Makes a Stronger
Geo-Localizationer") has no public code and no public method section. This package builds the
Sample4Geo-style encoder plus the three modules its abstract names (NCM, NEC, GFR); every design
choice is a guess, listed with its reasons in README.md ("Guesses", "Why this design").
"""

__version__ = "0.1.0"

UNOFFICIAL = "unofficial re-implementation from the abstract (arXiv 2512.14560); method details are guesses"
