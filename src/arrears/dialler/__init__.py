"""Dialling from the case: the compliance gate before the call, a dialler/CTI adapter that originates
it, the dialler's signed call events, and the call records that fill in the outcome's recording."""
