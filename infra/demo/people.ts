/** Fictional names for the demo organisation (all addresses under example.org, which never receives mail). */
export const DEMO_DOMAIN = 'northwind.example.org';

export const LEADERS = [
  'Amara Okafor',
  'Ben Carter',
  'Chloé Martin',
  'Daniel Kim',
  'Elena Rossi',
  'Farid Haddad',
  'Grace Liu',
  'Hugo Schmidt',
  'Ines Duarte',
  'Jonas Berg',
  'Keisha Brown',
  'Luca Bianchi',
] as const;

export const COACHES = ['Maya Patel', 'Noah Fischer', 'Olivia Grant'] as const;

export const FIRST = [
  'Aisha',
  'Bruno',
  'Carmen',
  'Dmitri',
  'Emma',
  'Felix',
  'Gabriela',
  'Hassan',
  'Isla',
  'Jakub',
  'Kira',
  'Leo',
  'Mina',
  'Nils',
  'Oona',
  'Pavel',
  'Quinn',
  'Rosa',
  'Samir',
  'Tara',
  'Umar',
  'Vera',
  'Wen',
  'Yusuf',
  'Zoe',
] as const;
export const LAST = [
  'Adams',
  'Bauer',
  'Costa',
  'Dubois',
  'Evans',
  'Fernandes',
  'Garcia',
  'Hansen',
  'Ito',
  'Jensen',
  'Kowalski',
  'Lopez',
  'Moreau',
  'Nakamura',
  'Olsen',
  'Petrov',
  'Quist',
  'Romero',
  'Silva',
  'Tanaka',
  'Usman',
  'Varga',
] as const;

export const COMMENTS: Record<string, readonly string[]> = {
  keep: [
    'Keep explaining the reasons behind decisions; it makes it much easier to get behind them.',
    'The weekly one-to-ones are really valuable. Please keep protecting that time.',
    'You stay calm when things go wrong, and that steadies the whole team.',
    'Keep giving credit publicly when people do good work.',
    'Your clarity about priorities at the start of each quarter helps a lot.',
    'Keep asking for our input before big changes. It is noticed and appreciated.',
    'The way you handled the reorganisation was honest and humane.',
  ],
  start: [
    'Delegate more of the stakeholder meetings; some of us are ready for that exposure.',
    'Give feedback closer to the moment rather than saving it for reviews.',
    'Close the loop on decisions: sometimes we never hear what was decided.',
    'Address conflict between teams earlier, before it escalates.',
    'Share more about the wider strategy so we can connect our work to it.',
    'Say no to more requests so the team can focus.',
    'Check in on workload during busy periods; it is not always visible from the outside.',
  ],
  other: [
    'Overall a supportive manager who has grown a lot this year.',
    'It would help to have clearer criteria for how priorities are set.',
    'Meetings sometimes run long without a clear outcome.',
    'Thank you for the mentoring during the project handover.',
  ],
};

/** The demo's addresses: first.last@northwind.example.org, accents dropped. */
export const demoEmail = (name: string) =>
  `${name
    .normalize('NFD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/[^a-z]+/g, '.')}@${DEMO_DOMAIN}`;

/** Who to sign in as, to see the demo from each side. */
export const DEMO_ACCOUNTS = {
  hr: `hr@${DEMO_DOMAIN}`,
  coach: demoEmail(COACHES[0]),
  leader: demoEmail(LEADERS[0]),
} as const;
