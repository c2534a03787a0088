"""Fictitious-but-plausible French names, birth places and addresses for sample exports."""

from __future__ import annotations

_SURNAMES_TEXT = (
    "Martin, Bernard, Thomas, Petit, Robert, Richard, Durand, Dubois, Moreau, Laurent, "
    "Simon, Michel, Lefèvre, Leroy, Roux, David, Bertrand, Morel, Fournier, Girard, Bonnet, "
    "Dupont, Lambert, Fontaine, Rousseau, Vincent, Muller, Lefebvre, Faure, André, Mercier, "
    "Blanc, Guérin, Boyer, Garnier, Chevalier, François, Legrand, Gauthier, Garcia, Perrin, "
    "Robin, Clément, Morin, Nicolas, Henry, Roussel, Mathieu, Gautier, Masson, Marchand, "
    "Duval, Denis, Dumont, Marie, Lemaire, Noël, Meyer, Dufour, Meunier, Brun, Blanchard, "
    "Giraud, Joly, Rivière, Lucas, Brunet, Gaillard, Barbier, Arnaud, Martinez, Gérard, "
    "Roche, Renard, Schmitt, Roy, Leroux, Colin, Vidal, Caron, Picard, Roger, Fabre, Aubert, "
    "Lemoine, Renaud, Dumas, Lacroix, Olivier, Philippe, Bourgeois, Pierre, Benoît, Rey, "
    "Leclerc, Payet, Rolland, Le Guen, Le Goff, N'Diaye, D'Almeida, Da Silva, Ferreira, "
    "Gauthier-Roux, Saint-Martin, De La Fontaine, Bénard, Hoarau, Kowalski, Nguyen, Benali, "
    "Haddad, Œillet"
)
_FEMALE = (
    "Marie, Jeanne, Françoise, Monique, Catherine, Nicole, Jacqueline, Anne, Sylvie, Isabelle, "
    "Martine, Christine, Nathalie, Michèle, Danielle, Brigitte, Chantal, Josiane, Colette, "
    "Simone, Denise, Paulette, Yvette, Madeleine, Odette, Huguette, Geneviève, Annie, Claudine, "
    "Éliane, Évelyne, Hélène, Thérèse, Bernadette, Marie-Claude, Marie-Thérèse, Anne-Marie, "
    "Ginette, Liliane, Raymonde, Suzanne, Gisèle, Régine, Arlette, Lucienne, Yvonne, Renée, "
    "Mireille, Agnès, Béatrice, Dominique, Élisabeth, Maryse, Noëlle, Rose, Solange, Aïcha"
)
_MALE = (
    "Jean, Pierre, Michel, André, Philippe, Alain, Bernard, Jacques, Daniel, Claude, Gérard, "
    "Christian, René, Marcel, Louis, Roger, Robert, Henri, Patrick, Serge, Guy, Maurice, Paul, "
    "Georges, Joseph, Yves, Jean-Pierre, Jean-Claude, Jean-Paul, Jean-Marie, François, Raymond, "
    "Lucien, Roland, Gilbert, Marc, Bruno, Didier, Dominique, Gaston, Fernand, Albert, Émile, "
    "Noël, Hervé, Thierry, Joël, Guy-Marie, Mohamed, Ahmed, Antoine, Lucas, Étienne, Mathieu"
)
SURNAMES = tuple(_SURNAMES_TEXT.split(", "))
FEMALE_NAMES = tuple(_FEMALE.split(", "))
MALE_NAMES = tuple(_MALE.split(", "))
# INSEE codes of birth communes (département + commune): Paris, Lyon, Marseille, Toulouse,
# Centre-Val de Loire, Corsica (2A/2B), overseas (97x); repeated codes weigh big cities.
_BIRTH_PLACES_TEXT = (
    "75056 75056 75056 69123 13055 31555 33063 44109 59350 67482 45234 37261 18033 36044 "
    "41018 28085 45208 37122 18197 41269 36088 28134 63113 87085 86194 21231 25056 29019 "
    "35238 76540 14118 80021 51454 54395 57463 06088 34172 30189 64445 66136 2A004 2B033 "
    "01053 02691 03185 04070 05061 07186 08105 09122 97411 97209"
)
BIRTH_PLACES = tuple(_BIRTH_PLACES_TEXT.split())
ABROAD = ("99350", "99352", "99351", "99127", "99134", "99139", "99109", "99131", "99243")
CITIES = (
    ("45000", "Orléans"),
    ("37000", "Tours"),
    ("18000", "Bourges"),
    ("36000", "Châteauroux"),
    ("41000", "Blois"),
    ("28000", "Chartres"),
    ("45200", "Montargis"),
    ("37400", "Amboise"),
    ("18100", "Vierzon"),
    ("41100", "Vendôme"),
    ("28100", "Dreux"),
    ("36100", "Issoudun"),
)
STREETS = (
    "rue des Lilas",
    "avenue de la République",
    "rue Jeanne-d'Arc",
    "place du Marché",
    "rue de la Gare",
    "chemin des Vignes",
    "boulevard Victor-Hugo",
    "rue du Moulin",
    "impasse des Tilleuls",
    "allée des Peupliers",
)

#: The bad-row kinds ``errors`` mixes in, cycled in this order (each one a cell made wrong).
